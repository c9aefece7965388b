package serve

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqctl/mqctl/internal/consume"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// The consumer is DOWN when it stopped polling for longer than the stall
// bound (not while it waits for messages); the broker is DOWN when its
// last probe failed or none answered for ProbeDownAfter.
func TestConsumerHealth(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	st := &consume.Stats{}
	c := NewConsumer(ConsumerOptions{Stats: st, StallAfter: time.Minute, ProbeDownAfter: 20 * time.Second, Now: clock.now})
	h := httptest.NewServer(c.Handler())
	defer h.Close()
	status := func() (int, Health) {
		t.Helper()
		resp, err := http.Get(h.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, c.Health()
	}
	lag := int64(7)
	c.Probed(&lag, nil)
	st.Handled.Add(3)
	c.Polling(true)
	clock.add(5 * time.Minute) // idle, waiting for messages: still UP
	c.Probed(&lag, nil)
	if code, got := status(); code != 200 || got.Status != "UP" || got.Components["consumer"].Details["lag"] != int64(7) || got.Components["consumer"].Details["handled"] != int64(3) {
		t.Fatalf("idle consumer: %d %+v", code, got)
	}
	c.Polling(false) // handing a delivery to a handler that hangs
	clock.add(59 * time.Second)
	c.Probed(&lag, nil)
	if code, _ := status(); code != 200 {
		t.Fatalf("busy for 59s of 60: %d", code)
	}
	clock.add(2 * time.Second)
	c.Probed(&lag, nil)
	code, got := status()
	if code != 503 || got.Components["consumer"].Status != "DOWN" || got.Components["broker"].Status != "UP" {
		t.Fatalf("stalled for 61s: %d %+v", code, got)
	}
	c.Polling(true)
	if code, _ := status(); code != 200 {
		t.Fatalf("polling again: %d", code)
	}
	c.Probed(nil, errors.New("dial tcp: connection refused"))
	code, got = status()
	if code != 503 || got.Components["broker"].Status != "DOWN" || got.Components["consumer"].Details["lag"] != nil ||
		!strings.Contains(got.Components["broker"].Details["error"].(string), "refused") {
		t.Fatalf("probe failed: %d %+v", code, got)
	}
	c.Probed(nil, nil)
	clock.add(21 * time.Second) // the next probe hangs
	if code, got = status(); code != 503 || got.Components["broker"].Status != "DOWN" {
		t.Fatalf("no probe answered for 21s: %d %+v", code, got)
	}
}

func TestConsumerMetricsNames(t *testing.T) {
	st := &consume.Stats{}
	st.GivenBack.Add(2)
	c := NewConsumer(ConsumerOptions{Stats: st, StallAfter: time.Minute, ProbeDownAfter: time.Minute})
	c.HandlerRan(1, time.Millisecond, errors.New("exit status 1"))
	c.HandlerRan(2, time.Millisecond, nil)
	rec := httptest.NewRecorder()
	c.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		"mqctl_consume_handled_total 0", "mqctl_consume_failed_total 0", "mqctl_consume_retried_total 1",
		"mqctl_consume_dead_lettered_total 0", `mqctl_consume_handler_duration_seconds_count{outcome="failed"} 1`,
		`mqctl_consume_handler_duration_seconds_count{outcome="ok"} 1`, "mqctl_consume_last_poll_timestamp_seconds",
		"mqctl_consume_given_back_total 2",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "mqctl_consume_lag") {
		t.Errorf("lag exported before any probe answered")
	}
}
