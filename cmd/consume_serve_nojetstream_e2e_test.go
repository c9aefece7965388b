package cmd_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// consume --serve on a core NATS subject of a server without JetStream:
// the broker answers, so /healthz is UP (200), with no lag to tell; a
// lag probe that found no JetStream marked the broker DOWN (503).
func TestConsumeServeOnNATSWithoutJetStream(t *testing.T) {
	off := testenv.NATS(t, sandbox.NATSOptions{Configure: func(o *server.Options) { o.JetStream = false }})
	cmd := newCLI(t).command(context.Background(), "consume", "jobs.x", "--core", "--url", off.URL, "--timeout", "2s",
		"--exec", "cat >/dev/null", "--serve", "127.0.0.1:0")
	base, stderrText := startServing(t, cmd)
	// Wait for the first probe's verdict.
	deadline := time.Now().Add(testenv.Deadline(30 * time.Second))
	for {
		code, h := getHealth(t, base)
		if _, checked := h.Components["broker"].Details["last_check"]; checked {
			if code != http.StatusOK || h.Status != "UP" || h.Components["broker"].Status != "UP" {
				t.Fatalf("/healthz %d %+v; stderr %q", code, h, stderrText())
			}
			if _, ok := h.Components["consumer"].Details["lag"]; ok {
				t.Errorf("/healthz tells a lag on a server without JetStream: %+v", h)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no probe after 30s: %d %+v; stderr %q", code, h, stderrText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
