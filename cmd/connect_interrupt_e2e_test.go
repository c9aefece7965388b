package cmd_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"testing"
	"time"

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
