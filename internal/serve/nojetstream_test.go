package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/mqctl/mqctl/internal/broker"
	_ "github.com/mqctl/mqctl/internal/broker/nats" // registers nats://
	"github.com/mqctl/mqctl/internal/lag/source"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// natsExporter is an exporter over real NATS targets, read through the
// lag source as mqctl serve reads them (dead letters and destinations
// on), and what it said on stderr.
func natsExporter(t *testing.T, targets ...broker.Target) (*Exporter, *strings.Builder) {
	t.Helper()
	for i := range targets {
		targets[i].Timeout = 5 * time.Second
	}
	src := source.New(source.Config{Targets: targets, Multi: true})
	t.Cleanup(src.Close)
	warnings := &strings.Builder{}
	ctxs, timeout, err := FromSource(src, nil, SourceConfig{
		Interval: 15 * time.Second, DeadLetters: true, Destinations: true, Err: io.Discard,
		Warnf: func(format string, args ...any) { fmt.Fprintf(warnings, format+"\n", args...) },
		Logf:  func(int, string, ...any) {},
	})
	if err != nil {
		t.Fatal(err)
	}
	return New(Options{Contexts: ctxs, Interval: 15 * time.Second, Timeout: timeout, Samples: 3}), warnings
}

// A NATS server without JetStream answers: its context is up, with no lag
// or dead-letter series and mqctl_context_lag_available 0, and /readyz
// is 200 with a note saying why; a server with JetStream says 1. A
// server that does not answer stays down, without the gauge. (serve
// marked a core-only server down: up 0, /readyz 503.)
func TestServeNATSWithoutJetStream(t *testing.T) {
	off := testenv.NATS(t, sandbox.NATSOptions{Configure: func(o *server.Options) { o.JetStream = false }})
	on := testenv.NATS(t, sandbox.NATSOptions{})
	e, warnings := natsExporter(t, broker.Target{Context: "core", URL: off.URL}, broker.Target{Context: "js", URL: on.URL})
	h := e.Handler()
	for range 2 { // the second poll must not say it again
		for _, s := range e.ctxs {
			e.poll(context.Background(), s)
		}
	}

	got := metrics(t, h)
	for key, want := range map[string]float64{
		`mqctl_context_up{context=core}`:            1,
		`mqctl_context_lag_available{context=core}`: 0,
		`mqctl_poll_errors_total{context=core}`:     0,
		`mqctl_context_up{context=js}`:              1,
		`mqctl_context_lag_available{context=js}`:   1,
	} {
		if s, ok := got[key]; !ok || s.value != want {
			t.Errorf("%s = %v (present %v), want %v", key, s.value, ok, want)
		}
	}
	for key, s := range got {
		if s.labels["broker"] != "" {
			t.Errorf("a server without streams exports %s", key)
		}
	}

	code, body := scrape(t, h, "/readyz")
	var r Readiness
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("/readyz body %q: %v", body, err)
	}
	core := r.Contexts["core"]
	if code != http.StatusOK || r.Status != "UP" || core.Status != "UP" || core.Error != "" {
		t.Errorf("/readyz: %d %s", code, body)
	}
	const why = "JetStream is not enabled on nats at 127.0.0.1:"
	if !strings.HasPrefix(core.Note, why) || r.Contexts["js"].Note != "" {
		t.Errorf("/readyz notes: core %q, js %q; want core's to say %q", core.Note, r.Contexts["js"].Note, why)
	}
	if n := strings.Count(warnings.String(), why); n != 1 || !strings.Contains(warnings.String(), "context core: ") {
		t.Errorf("stderr says it %d times, want once naming the context: %q", n, warnings.String())
	}
	if strings.Contains(warnings.String(), "retrying") {
		t.Errorf("stderr treats the core-only server as failing: %q", warnings.String())
	}

	down, _ := natsExporter(t, broker.Target{Context: "down", URL: fmt.Sprintf("nats://127.0.0.1:%d", testenv.ClosedPort(t))})
	down.poll(context.Background(), down.ctxs[0])
	got = metrics(t, down.Handler())
	if s, ok := got[`mqctl_context_up{context=down}`]; !ok || s.value != 0 {
		t.Errorf("a server that does not answer: up %v (present %v), want 0", s.value, ok)
	}
	if _, ok := got[`mqctl_context_lag_available{context=down}`]; ok {
		t.Error("a server that does not answer exports mqctl_context_lag_available")
	}
	if code, body := scrape(t, down.Handler(), "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with a server that does not answer: %d %s", code, body)
	}
}
