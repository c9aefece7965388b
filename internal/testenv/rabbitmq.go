package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqctl/mqctl/internal/sandbox"
)

// RabbitMQEnv is a RabbitMQ broker for tests.
type RabbitMQEnv struct {
	// AMQPURL carries the credentials (guest/guest for the local node).
	AMQPURL string
	// APIURL is the management API, without credentials.
	APIURL string
}

// shared is the one rabbitmq-server node of a test binary, started on
// first use and stopped by Main.
var shared struct {
	once sync.Once
	node *sandbox.RabbitMQ
	err  error
}

// RabbitMQ returns a broker for t: the one named by MQCTL_TEST_AMQP_URL
// (and MQCTL_TEST_AMQP_API_URL, default http://HOST:15672), or else a
// local rabbitmq-server node shared by the test binary. Packages using it
// call Main from their TestMain so the node is stopped at the end.
func RabbitMQ(t testing.TB) *RabbitMQEnv {
	t.Helper()
	if u := os.Getenv("MQCTL_TEST_AMQP_URL"); u != "" {
		api := os.Getenv("MQCTL_TEST_AMQP_API_URL")
		if api == "" {
			parsed, err := url.Parse(u)
			if err != nil {
				t.Fatalf("testenv: MQCTL_TEST_AMQP_URL is not a URL")
			}
			api = "http://" + parsed.Hostname() + ":15672"
		}
		return &RabbitMQEnv{AMQPURL: u, APIURL: api}
	}
	NeedRabbitMQServer(t)
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		shared.node, shared.err = sandbox.StartRabbitMQ(ctx, sandbox.RabbitMQOptions{})
	})
	if shared.err != nil {
		t.Fatalf("testenv: %v", shared.err)
	}
	return &RabbitMQEnv{AMQPURL: shared.node.AMQPURL, APIURL: shared.node.APIURL}
}

// NeedRabbitMQServer skips t when rabbitmq-server is not installed, or
// fails it when CI is set: CI must not pass by skipping.
func NeedRabbitMQServer(t testing.TB) {
	t.Helper()
	if sandbox.RabbitMQAvailable() {
		return
	}
	if CI() {
		t.Fatal("rabbitmq-server not installed: apt-get install rabbitmq-server, or set MQCTL_TEST_AMQP_URL; run make test")
	}
	t.Skip("rabbitmq-server not installed (apt-get install rabbitmq-server) and MQCTL_TEST_AMQP_URL not set")
}

// Main runs the tests, stops the shared RabbitMQ node and exits. Call it
// from TestMain: func TestMain(m *testing.M) { testenv.Main(m) }.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main without the exit, for a TestMain that has cleanup of its own
// to do: os.Exit skips deferred calls.
func Run(m *testing.M) int {
	code := m.Run()
	if shared.node != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := shared.node.Stop(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
		cancel()
	}
	return code
}

var (
	uniqueSeq atomic.Int64
	// Only characters every broker accepts in a name (NATS stream names
	// take no dots).
	notName = regexp.MustCompile(`[^A-Za-z0-9_-]+`)
)

// UniqueName returns a queue (topic, stream) name unique to this test run:
// prefix, the test's name and a counter, so tests sharing a broker, or a
// rerun against the same external broker, never see each other's data.
func UniqueName(t testing.TB, prefix string) string {
	t.Helper()
	name := strings.Trim(notName.ReplaceAllString(t.Name(), "-"), "-")
	if len(name) > 80 {
		name = name[:80]
	}
	return fmt.Sprintf("%s-%s-%d-%d", prefix, name, os.Getpid(), uniqueSeq.Add(1))
}

// OwnRabbitMQ starts a rabbitmq-server node for t alone, with o's settings
// (Config, AdvancedConfig): for a test that restarts the node or changes a
// node-wide setting, which must not touch the node other tests share. It
// is stopped, and its data directory removed, when t ends. A start costs
// some seconds: reuse the node across the runs of a scenario.
func OwnRabbitMQ(t testing.TB, o sandbox.RabbitMQOptions) *sandbox.RabbitMQ {
	t.Helper()
	NeedRabbitMQServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	node, err := sandbox.StartRabbitMQ(ctx, o)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := node.Stop(ctx); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
	return node
}
