package cmd_test

import (
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// lag and dlq ls on a NATS server without JetStream say so on one line and
// exit 1, as they do when RabbitMQ's management API is unreachable; they
// printed empty tables and exited 0 (trial finding). With JetStream and no
// streams they still print an empty table and exit 0.
func TestLagAndDLQOnNATSWithoutJetStream(t *testing.T) {
	off := testenv.NATS(t, sandbox.NATSOptions{Configure: func(o *server.Options) { o.JetStream = false }})
	on := testenv.NATS(t, sandbox.NATSOptions{})
	c := newCLI(t)
	for _, args := range [][]string{{"lag"}, {"lag", "orders"}, {"dlq", "ls"}, {"lag", "-o", "json"}} {
		r := c.run(append([]string{"--url", off.URL}, args...)...)
		expectError(t, r, 1, "JetStream is not enabled on nats at ")
		if !strings.Contains(r.stderr, ": no streams or consumers") {
			t.Errorf("%v: stderr %q does not say what is missing", args, r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("%v: stdout %q, want nothing", args, r.stdout)
		}

	}
	for _, args := range [][]string{{"lag"}, {"dlq", "ls"}} {
		if r := c.run(append([]string{"--url", on.URL}, args...)...); r.code != 0 || r.stderr != "" {
			t.Errorf("%v with JetStream and no streams: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}
