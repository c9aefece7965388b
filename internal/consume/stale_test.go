package consume

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/testenv"
)

// seen passes a consumer through and keeps what Next returned, so that a
// test can wait until the driver reports those deliveries stale.
type seen struct {
	broker.Consumer
	mu sync.Mutex
	ds []*broker.Delivery
}

func (s *seen) Next(ctx context.Context) (*broker.Delivery, error) {
	d, err := s.Consumer.Next(ctx)
	if err == nil {
		s.mu.Lock()
		s.ds = append(s.ds, d)
		s.mu.Unlock()
	}
	return d, err
}

// allStale reports whether every delivery returned so far is stale.
func (s *seen) allStale() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !slices.ContainsFunc(s.ds, func(d *broker.Delivery) bool { return !broker.IsStale(d) })
}

// TestExecGivesBackStaleRabbitMQ: the consumer's connection closes while
// the handler of message 1 runs and messages 2 and 3 wait for it in the
// run (one handed to the handler's lane, one with the dispatcher). The
// broker requeues all three; 2 and 3 must not be handled from the closed
// connection, only when they come again, while 1, already running,
// finishes, fails to ack (stale) and is handled again. The run exits
// partial for that lost ack alone. With -n 5, 2 and 3 given back do not
// count: the run ends once 5 were handled (1 twice, 2 to 4 once).
func TestExecGivesBackStaleRabbitMQ(t *testing.T) {
	for _, count := range []int64{0, 5} {
		t.Run(fmt.Sprintf("n=%d", count), func(t *testing.T) { testExecGivesBackStale(t, count) })
	}
}

func testExecGivesBackStale(t *testing.T, count int64) {
	const n = 5
	env := testenv.RabbitMQ(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	j := jobsQueue(t, ctx, env, n)
	vhost, u, ac, ch := j.vhost, j.url, j.conn, j.ch

	conn, err := broker.Open(ctx, broker.Target{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := openConsumer(t, ctx, conn, broker.ConsumerOptions{Sources: []string{"jobs"}, Prefetch: 10})
	s := &seen{Consumer: c}
	dir := t.TempDir()
	// Each run logs "ID REDELIVERED"; message 1's first run waits for
	// DIR/release.
	handler := `cat >/dev/null; echo "$MQ_MESSAGE_ID $MQ_REDELIVERED" >>` + dir + `/started; ` +
		`if [ "$MQ_MESSAGE_ID $MQ_REDELIVERED" = "1 false" ]; then while [ ! -e ` + dir + `/release ]; do sleep 0.05; done; fi`
	st := &Stats{}
	var logMu sync.Mutex
	var logged []string
	ran := make(chan error, 1)
	go func() {
		ran <- Run(ctx, s, io.Discard, st, Options{
			Broker: "rabbitmq", Concurrency: 1, IdleTimeout: 2 * time.Second, Count: count,
			Exec: &Exec{Command: handler, Broker: "rabbitmq", Stdout: io.Discard, Stderr: io.Discard},
			Logf: func(format string, args ...any) {
				logMu.Lock()
				defer logMu.Unlock()
				logged = append(logged, format)
			},
		})
	}()
	started := func() []string {
		b, err := os.ReadFile(filepath.Join(dir, "started"))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	// Message 1 runs, 2 and 3 are read and wait for its handler.
	deadline := time.Now().Add(20 * time.Second)
	for !slices.Contains(started(), "1 false") || st.Read.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("after 20s: started %v, read %d", started(), st.Read.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	closeConnectionsBut(t, env, vhost, ac.LocalAddr().(*net.TCPAddr).Port)
	for !s.allStale() {
		if time.Now().After(deadline) {
			t.Fatal("the deliveries of the closed connection are not stale after 20s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case err = <-ran:
	case <-time.After(40 * time.Second):
		t.Fatal("Run did not end 40s after the release")
	}

	got := started()
	slices.Sort(got)
	if count > 0 {
		// Which of the messages come again is the broker's order; how
		// many is not.
		if len(got) != int(count) || got[0] != "1 false" || st.Handled.Load() != count {
			t.Errorf("handler runs %v, handled %d; want %d handled, the first of message 1: deliveries given back do not count toward -n", got, st.Handled.Load(), count)
		}
		if g, a, e := st.GivenBack.Load(), st.Acked.Load(), st.SettleErrors.Load(); g != 2 || a != count-1 || e != 1 {
			t.Errorf("given back %d, acked %d, settle errors %d; want 2, %d, 1 (summary: %s)", g, a, e, count-1, st.Summary(0))
		}
		left := n - int(count-1)
		if q := testenv.WaitQueue(t, ch, "jobs", 5*time.Second, func(q amqp.Queue) bool { return q.Messages == left }); q.Messages != left {
			t.Errorf("queue holds %d messages at the end, want %d", q.Messages, left)
		}
		return
	}
	// Everything comes again, marked redelivered; only 1 ran before.
	want := []string{"1 false", "1 true", "2 true", "3 true", "4 true", "5 true"}
	if !slices.Equal(got, want) {
		t.Errorf("handler runs %v, want %v: no handler may start for a delivery of the closed connection", got, want)
	}
	if g, a, e := st.GivenBack.Load(), st.Acked.Load(), st.SettleErrors.Load(); g != 2 || a != n || e != 1 {
		t.Errorf("given back %d, acked %d, settle errors %d; want 2, %d, 1 (summary: %s)", g, a, e, n, st.Summary(0))
	}
	if !strings.Contains(st.Summary(0), "given back 2") {
		t.Errorf("summary %q does not tell the deliveries given back", st.Summary(0))
	}
	if !mqerr.Is(err, mqerr.Partial) || !strings.Contains(err.Error(), "1 messages could not be settled") {
		t.Errorf("Run = %v, want partial for the one lost ack", err)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if i := slices.IndexFunc(logged, func(f string) bool { return strings.Contains(f, "prefetched deliveries were given back unhandled") }); i < 0 {
		t.Errorf("no log line tells a delivery given back: %q", logged)
	}
	if q := testenv.WaitQueue(t, ch, "jobs", 5*time.Second, func(q amqp.Queue) bool { return q.Messages == 0 }); q.Messages != 0 {
		t.Errorf("queue holds %d messages at the end, want none", q.Messages)
	}
}

// closeConnectionsBut closes, through the management API, every
// connection to vhost except the one from port keep (the test's own),
// waiting for the API to list one.
func closeConnectionsBut(t *testing.T, env *testenv.RabbitMQEnv, vhost string, keep int) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var conns []struct {
			Name     string `json:"name"`
			PeerPort int    `json:"peer_port"`
		}
		env.MustCall(t, http.MethodGet, "/api/vhosts/"+url.PathEscape(vhost)+"/connections?columns=name,peer_port", nil, &conns)
		closed := 0
		for _, c := range conns {
			if c.PeerPort == keep {
				continue
			}
			env.MustCall(t, http.MethodDelete, "/api/connections/"+url.PathEscape(c.Name), nil, nil)
			closed++
		}
		if closed > 0 {
			return
		}
	}
	t.Fatal("the management API lists no consumer connection after 15s")
}
