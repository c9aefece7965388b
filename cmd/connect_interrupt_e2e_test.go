package cmd_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// hungBroker is a broker that accepts connections and never answers;
// each accept is sent on the channel.
func hungBroker(t *testing.T) (addr string, accepted <-chan struct{}) {
	t.Helper()
	port, ch := testenv.SilentListener(t)
	return fmt.Sprintf("127.0.0.1:%d", port), ch
}

// Ctrl-C (or SIGTERM) while a command waits on a Kafka broker that accepted
// the connection and never answers ends it at once with exit 130 and one
// line, not when --timeout runs out (trial finding: 19 s of a --timeout 20s,
// because kgo's connection handshake ignores the request's context).
func TestInterruptWhileConnectingToAHungKafka(t *testing.T) {
	const timeout = 20 * time.Second
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
		args []string
	}{
		{"lag SIGINT", syscall.SIGINT, []string{"lag"}},
		{"lag SIGTERM", syscall.SIGTERM, []string{"lag"}},
		{"offsets reset SIGINT", syscall.SIGINT, []string{"offsets", "reset", "g", "--to", "earliest", "--topic", "t"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, accepted := hungBroker(t)
			c := newCLI(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			args := append([]string{"--url", "kafka://" + addr, "--timeout", timeout.String()}, tc.args...)
			cmd := c.command(ctx, args...)
			var stderr syncBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case <-accepted:
			case err := <-exited:
				t.Fatalf("mqctl %v exited before connecting: %v; stderr %s", args, err, stderr.String())
			case <-time.After(testenv.Deadline(timeout)):
				t.Fatalf("mqctl %v never connected; stderr %s", args, stderr.String())
			}
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			var err error
			select {
			case err = <-exited:
			// A hang guard shorter than --timeout: without the fix the
			// command ends only when --timeout runs out.
			case <-time.After(timeout / 2):
				t.Fatalf("mqctl %v still waits for the hung broker after %v (its --timeout is %s); stderr %s", args, tc.sig, timeout, stderr.String())
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 130 {
				t.Fatalf("mqctl %v after %v: %v, want exit 130; stderr %s", args, tc.sig, err, stderr.String())
			}
			if got := stderr.String(); got != "mqctl: interrupted\n" {
				t.Errorf("stderr = %q, want the one line %q", got, fmt.Sprintln("mqctl: interrupted"))
			}
		})
	}
}

// silentBroker is the kfake listener of a broker that hangs: kfake names
// the address of a testenv.SilentListener, which accepts connections and
// never answers, in its metadata, and never gets a connection itself.
type silentBroker struct {
	addr   net.Addr
	once   sync.Once
	closed chan struct{}
}

func (l *silentBroker) Accept() (net.Conn, error) {
	<-l.closed
	return nil, net.ErrClosed
}

func (l *silentBroker) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *silentBroker) Addr() net.Addr { return l.addr }

// kafkaWithAHungBroker starts a 2-broker kfake cluster whose second broker
// hangs, with topic t (4 partitions). It returns the first broker's
// address, the only one to give mqctl, and the channel of the second's
// accepts.
func kafkaWithAHungBroker(t *testing.T) (k *sandbox.Kafka, seed string, accepted <-chan struct{}) {
	t.Helper()
	port, accepted := testenv.SilentListener(t)
	hung := &silentBroker{addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}, closed: make(chan struct{})}
	listens := 0
	k = testenv.Kafka(t, sandbox.KafkaOptions{Brokers: 2, Extra: []kfake.Opt{
		kfake.SeedTopics(4, "t"),
		kfake.ListenFn(func(network, addr string) (net.Listener, error) {
			if listens++; listens == 2 {
				return hung, nil
			}
			return net.Listen(network, addr)
		}),
	}})
	// kfake places leaders at random: make sure each broker leads one
	// (all 4 on the first would leave consume and produce nothing to
	// wait on at the second, 1 cluster in 16).
	for p, node := range []int32{0, 1} {
		if err := k.Cluster().MoveTopicPartition("t", int32(p), node); err != nil {
			t.Fatalf("move t/%d to broker %d: %v", p, node, err)
		}
	}
	return k, k.Addrs()[0], accepted
}

// Ctrl-C while a command waits on a broker other than the one it connected
// to (a partition leader or group coordinator that metadata names, or the
// broker kgo asks for metadata), which accepts connections and never
// answers, ends it at once with exit 130, not when --timeout runs out: kgo
// runs a new connection's handshake on the client's context, and consume
// and produce waited 59.5 s of a --timeout 60s.
func TestInterruptWhileASecondKafkaBrokerHangs(t *testing.T) {
	const timeout = 60 * time.Second
	for _, tc := range []struct {
		name string
		args func(t *testing.T, k *kfake.Cluster) []string
		// stdin is written and left open.
		stdin string
	}{
		{name: "lag", args: func(*testing.T, *kfake.Cluster) []string { return []string{"lag"} }},
		{name: "offsets reset", args: func(t *testing.T, k *kfake.Cluster) []string {
			return []string{"offsets", "reset", groupOn(k, 1), "--to", "earliest", "--topic", "t"}
		}},
		{name: "consume", args: func(*testing.T, *kfake.Cluster) []string { return []string{"consume", "t"} }},
		{name: "consume --group", args: func(t *testing.T, k *kfake.Cluster) []string {
			return []string{"consume", "t", "--group", groupOn(k, 1)}
		}},
		{name: "produce", stdin: "m\n", args: func(t *testing.T, k *kfake.Cluster) []string {
			// A message already handed to the client when SIGINT comes is
			// waited for up to --confirm-timeout (and a 5 s flush), as
			// produce drains on Ctrl-C: kept short so it ends well inside
			// the guard, which --timeout alone would not.
			return []string{"produce", "t", "--partition", fmt.Sprint(partitionOn(t, k, "t", 4, 1)), "--confirm-timeout", "2s"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, seed, accepted := kafkaWithAHungBroker(t)
			args := append([]string{"--url", "kafka://" + seed, "--timeout", timeout.String()}, tc.args(t, k.Cluster())...)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cmd := newCLI(t).command(ctx, args...)
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			defer stdin.Close()
			var stderr syncBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			io.WriteString(stdin, tc.stdin)
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case <-accepted:
			case err := <-exited:
				t.Fatalf("mqctl %v exited before connecting to the hung broker: %v; stderr %s", args, err, stderr.String())
			case <-time.After(testenv.Deadline(10 * time.Second)):
				t.Fatalf("mqctl %v never connected to the hung broker; stderr %s", args, stderr.String())
			}
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			select {
			case err = <-exited:
			// A hang guard shorter than --timeout: without the fix the
			// command ends only when --timeout runs out.
			case <-time.After(timeout / 2):
				t.Fatalf("mqctl %v still waits for the hung broker after SIGINT (its --timeout is %s); stderr %s", args, timeout, stderr.String())
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 130 {
				t.Fatalf("mqctl %v after SIGINT: %v, want exit 130; stderr %s", args, err, stderr.String())
			}
			// produce's summary comes first (produce --help).
			lines := strings.SplitAfter(stderr.String(), "\n")
			if len(lines) > 2 && tc.stdin != "" && strings.HasPrefix(lines[0], "mqctl: sent ") {
				lines = lines[1:]
			}
			if got := strings.Join(lines, ""); got != "mqctl: interrupted\n" {
				t.Errorf("stderr = %q, want the one line %q", stderr.String(), "mqctl: interrupted\n")
			}
		})
	}
}

// groupOn is a consumer group name whose coordinator is broker node.
func groupOn(k *kfake.Cluster, node int32) string {
	for i := 0; ; i++ {
		if g := fmt.Sprintf("g%d", i); k.CoordinatorFor(g) == node {
			return g
		}
	}
}

// partitionOn is a partition of topic (of partitions) that broker node
// leads; the test fails if there is none (it used to loop for ever).
func partitionOn(t *testing.T, k *kfake.Cluster, topic string, partitions, node int32) int32 {
	t.Helper()
	for p := range partitions {
		if k.LeaderFor(topic, p) == node {
			return p
		}
	}
	t.Fatalf("no partition of %s on broker %d", topic, node)
	return -1
}
