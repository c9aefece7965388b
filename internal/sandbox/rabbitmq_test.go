package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"regexp"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

func startRabbit(t *testing.T, o sandbox.RabbitMQOptions) *sandbox.RabbitMQ {
	t.Helper()
	testenv.NeedRabbitMQServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	r, err := sandbox.StartRabbitMQ(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := r.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
	return r
}

// rabbitDataDir is a data directory the rabbitmq user can reach when the
// tests run as root: t.TempDir's parent is private to us.
func rabbitDataDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "mqctl-rabbitmq-test-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// nodeProcesses lists the processes whose command line names the node.
func nodeProcesses(t *testing.T, node string) string {
	t.Helper()
	out, err := exec.Command("pgrep", "-af", regexp.QuoteMeta(node)).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
			return ""
		}
		t.Fatalf("pgrep: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// epmdNames is what epmd has registered, "" when epmd is not running.
func epmdNames(t *testing.T) string {
	t.Helper()
	out, _ := exec.Command("epmd", "-names").CombinedOutput()
	return string(out)
}

func dial(t *testing.T, url string) *amqp.Connection {
	t.Helper()
	conn, err := amqp.DialConfig(url, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	return conn
}

func TestRabbitMQStopLeavesNothingBehind(t *testing.T) {
	t.Parallel()
	r := startRabbit(t, sandbox.RabbitMQOptions{})
	short, _, _ := strings.Cut(r.NodeName, "@")
	if ps := nodeProcesses(t, r.NodeName); ps == "" {
		t.Fatalf("no process names node %s while it runs", r.NodeName)
	}
	if names := epmdNames(t); !strings.Contains(names, "name "+short+" ") {
		t.Fatalf("node %s not registered with epmd while it runs:\n%s", short, names)
	}
	dataDir := r.DataDir()
	conn := dial(t, r.AMQPURL)
	defer conn.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Stop relies on rabbitmqctl reaching the node with its cookie.
	if out, err := r.Ctl(ctx, "status"); err != nil || !strings.Contains(string(out), r.NodeName) {
		t.Fatalf("rabbitmqctl status: %v\n%s", err, out)
	}
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if ps := nodeProcesses(t, r.NodeName); ps != "" {
		t.Errorf("processes of node %s left after Stop:\n%s", r.NodeName, ps)
	}
	if names := epmdNames(t); strings.Contains(names, "name "+short+" ") {
		t.Errorf("node %s still registered with epmd after Stop:\n%s", short, names)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("temporary data dir %s not removed: %v", dataDir, err)
	}
	select {
	case <-conn.NotifyClose(make(chan *amqp.Error, 1)):
	case <-time.After(10 * time.Second):
		t.Error("client connection still open after Stop")
	}
	if err := r.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestRabbitMQRestartKeepsDurableQueue(t *testing.T) {
	t.Parallel()
	const n = 25
	r := startRabbit(t, sandbox.RabbitMQOptions{DataDir: rabbitDataDir(t)})
	queue := testenv.UniqueName(t, "durable")

	conn := dial(t, r.AMQPURL)
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := range n {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, true, false, amqp.Publishing{
			DeliveryMode: amqp.Persistent,
			Body:         fmt.Appendf(nil, "m%d", i),
		})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := dc.WaitContext(ctx); !ok || err != nil {
			t.Fatalf("message %d not confirmed: %v", i, err)
		}
	}
	conn.Close()

	urlBefore, apiBefore := r.AMQPURL, r.APIURL
	if err := r.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if r.AMQPURL != urlBefore || r.APIURL != apiBefore {
		t.Fatalf("restart moved the node: %s %s -> %s %s", urlBefore, apiBefore, r.AMQPURL, r.APIURL)
	}
	conn = dial(t, r.AMQPURL)
	defer conn.Close()
	ch, err = conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		t.Fatalf("durable queue gone after restart: %v", err)
	}
	if q.Messages != n {
		t.Fatalf("after restart the queue holds %d messages, want %d", q.Messages, n)
	}
	for i := range n {
		d, ok, err := ch.Get(queue, true)
		if err != nil || !ok {
			t.Fatalf("get %d: ok=%v err=%v", i, ok, err)
		}
		if want := fmt.Sprintf("m%d", i); string(d.Body) != want {
			t.Fatalf("message %d = %q, want %q", i, d.Body, want)
		}
	}
}

func TestStartRabbitMQRefuses(t *testing.T) {
	testenv.NeedRabbitMQServer(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port

	tests := []struct {
		name string
		opts sandbox.RabbitMQOptions
		want string
		skip string
	}{
		{name: "busy AMQP port", opts: sandbox.RabbitMQOptions{AMQPPort: busyPort}, want: fmt.Sprintf("AMQP port %d is not free", busyPort)},
		{name: "busy API port", opts: sandbox.RabbitMQOptions{APIPort: busyPort}, want: fmt.Sprintf("management API port %d is not free", busyPort)},
		{
			name: "data dir the rabbitmq user cannot reach",
			opts: sandbox.RabbitMQOptions{DataDir: t.TempDir()},
			want: "user rabbitmq cannot reach",
			skip: rootWithRabbitUser(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.skip != "" {
				t.Skip(tt.skip)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := sandbox.StartRabbitMQ(ctx, tt.opts)
			if err == nil {
				r.Stop(ctx)
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

// rootWithRabbitUser is why the test of an unreachable data dir cannot
// run here, "" when it can: the node only switches user when we are root.
func rootWithRabbitUser() string {
	if os.Geteuid() != 0 {
		return "not root: the node runs as us"
	}
	if _, err := user.Lookup("rabbitmq"); err != nil {
		return "no rabbitmq user"
	}
	return ""
}

// progressWriter passes each line a start reports to a channel.
type progressWriter chan string

func (p progressWriter) Write(b []byte) (int, error) {
	select {
	case p <- string(b):
	default:
	}
	return len(b), nil
}

// Issue 11 items 22–23: a start reports what it waits for as soon as the
// node is launched, and a start interrupted then leaves no node process
// and no temporary directory (it used to keep the directory).
func TestStartRabbitMQInterruptedLeavesNothing(t *testing.T) {
	testenv.NeedRabbitMQServer(t)
	tmp, err := os.MkdirTemp("", "mqctl-rabbitmq-tmpdir-*")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmp)

	progress := make(progressWriter, 16)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	node := make(chan string, 1)
	go func() {
		line := <-progress
		if m := regexp.MustCompile(`^sandbox: waiting for rabbitmq node (\S+) \(AMQP on 127\.0\.0\.1:\d+, management API on 127\.0\.0\.1:\d+\): \d+s`).FindStringSubmatch(line); m != nil {
			node <- m[1]
		} else {
			t.Errorf("first progress line %q does not say what the start waits for", line)
			node <- ""
		}
		cancel()
	}()
	r, err := sandbox.StartRabbitMQ(ctx, sandbox.RabbitMQOptions{Progress: progress})
	if err == nil {
		r.Stop(context.Background())
		t.Fatal("the start was interrupted and still succeeded")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %q is not an interruption", err)
	}
	name := <-node
	if name == "" {
		return
	}
	if ps := nodeProcesses(t, name); ps != "" {
		t.Errorf("processes of node %s left after the interrupted start:\n%s", name, ps)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) > 0 {
		t.Errorf("left in TMPDIR after the interrupted start: %v", entries)
	}
}
