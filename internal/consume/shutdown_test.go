package consume

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// gatedHandler logs each message's stream sequence (JetStream) or message
// id (RabbitMQ) to DIR/started, waits until DIR/release exists, then logs
// it to DIR/done.
func gatedHandler(dir string) string {
	return `cat >/dev/null; id="${MQ_STREAM_SEQ:-$MQ_MESSAGE_ID}"; echo "$id" >>` + dir + `/started; ` +
		`while [ ! -e ` + dir + `/release ]; do sleep 0.05; done; echo "$id" >>` + dir + `/done`
}

func seqLines(t *testing.T, path string) []uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []uint64
	for _, f := range strings.Fields(string(b)) {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			t.Fatalf("%s: %q", path, f)
		}
		out = append(out, n)
	}
	return out
}

// gatedRun is an --exec run of gatedHandler, two handlers at a time, that
// stop ends the way SIGTERM does.
type gatedRun struct {
	c    broker.Consumer
	dir  string
	st   *Stats
	ran  chan error
	stop func()
}

func startGatedRun(t *testing.T, ctx context.Context, conn broker.Conn, brokerName string, o broker.ConsumerOptions) *gatedRun {
	t.Helper()
	c := openConsumer(t, ctx, conn, o)
	r := &gatedRun{c: c, dir: t.TempDir(), st: &Stats{}, ran: make(chan error, 1)}
	errStop := errors.New("SIGTERM")
	runCtx, stop := context.WithCancelCause(ctx)
	t.Cleanup(func() { stop(nil) })
	r.stop = func() { stop(errStop) }
	go func() {
		r.ran <- Run(runCtx, c, io.Discard, r.st, Options{
			Broker: brokerName, Concurrency: 2, ShutdownTimeout: 30 * time.Second, StopCause: errStop,
			Exec: &Exec{Command: gatedHandler(r.dir), Broker: brokerName, Stdout: io.Discard, Stderr: io.Discard},
		})
	}()
	return r
}

func (r *gatedRun) started(t *testing.T) []uint64 {
	return seqLines(t, filepath.Join(r.dir, "started"))
}

// finish lets the handlers end, waits for Run, and returns the ids they
// handled, sorted: the two running at the stop, which finish.
func (r *gatedRun) finish(t *testing.T) []uint64 {
	t.Helper()
	if err := os.WriteFile(filepath.Join(r.dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-r.ran:
		if err != nil {
			t.Fatalf("Run after the stop = %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return 30s after the stop")
	}
	started, done := r.started(t), seqLines(t, filepath.Join(r.dir, "done"))
	slices.Sort(started)
	slices.Sort(done)
	if !slices.Equal(started, done) || len(done) != 2 {
		t.Fatalf("handlers started %v and finished %v; want the two running at the stop to finish", started, done)
	}
	if got := r.st.Acked.Load(); got != int64(len(done)) {
		t.Errorf("acked %d, want the %d handled", got, len(done))
	}
	return done
}

// eachOnce fails t unless handled and got (what a second consumer read
// meanwhile) hold each of 1..n once.
func eachOnce(t *testing.T, handled, got []uint64, n int, what string) {
	t.Helper()
	all := slices.Concat(handled, got)
	slices.Sort(all)
	want := make([]uint64, n)
	for i := range want {
		want[i] = uint64(i + 1)
	}
	if !slices.Equal(all, want) {
		t.Errorf("handled %v, and the second consumer got %d messages within 5s: %v; want each of 1..%d once (%s)",
			handled, len(got), got, n, what)
	}
}

// TestExecStopReturnsBufferedJetStream stops an --exec run on a durable
// JetStream consumer with a long ack wait while handlers run and more
// messages than the prefetch are on their way: the handlers finish and
// are acked, and every message not handled is released at once, so a
// second consumer fetches all of them well within the ack wait. Nothing
// is lost and nothing handled comes again.
func TestExecStopReturnsBufferedJetStream(t *testing.T) {
	const (
		n        = 60
		prefetch = 10
		ackWait  = 2 * time.Minute
	)
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nc, err := nats.Connect(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "JOBS", Subjects: []string{"jobs"}})
	if err != nil {
		t.Fatal(err)
	}
	// The server may hand out far more than mqctl's prefetch: what mqctl
	// pulled and did not handle is its to give back.
	if _, err := stream.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "workers",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: ackWait, MaxAckPending: 1000}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := js.Publish(ctx, "jobs", []byte("m"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}

	conn, err := broker.Open(ctx, broker.Target{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := startGatedRun(t, ctx, conn, "nats", broker.ConsumerOptions{Sources: []string{"JOBS"}, Durable: "workers", Prefetch: prefetch})
	c := r.c

	// Stop once both handlers run and the consumer holds a full prefetch
	// besides: the server has handed out more than mqctl can start.
	deadline := time.Now().Add(20 * time.Second)
	for len(r.started(t)) < 2 || c.Buffered() < prefetch {
		if time.Now().After(deadline) {
			t.Fatalf("handlers started %v, buffered %d after 20s", r.started(t), c.Buffered())
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.stop()

	// The rest comes at once, while the two handlers still run: a second
	// consumer fetches it within 5s of an ack wait of 2m.
	cons, err := stream.Consumer(ctx, "workers")
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	wait := time.Now().Add(5 * time.Second)
	for len(got) < n-2 && time.Now().Before(wait) {
		batch, err := cons.Fetch(n-2-len(got), jetstream.FetchMaxWait(time.Until(wait)))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, md.Sequence.Stream)
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}

	done := r.finish(t)
	for _, seq := range done {
		if slices.Contains(got, seq) {
			t.Errorf("stream sequence %d was handled and acked, but delivered to the second consumer too", seq)
		}
	}
	eachOnce(t, done, got, n, fmt.Sprintf("what is missing waits for the ack wait of %s", ackWait))
	// Handled messages were acked: nothing is left for anyone.
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 0 || info.NumPending != 0 {
		t.Errorf("consumer after both: %d ack pending, %d pending; want none", info.NumAckPending, info.NumPending)
	}
}

// TestExecStopReturnsPrefetchRabbitMQ is the same on RabbitMQ: at the
// stop the consumer is cancelled and its prefetch requeued, so a second
// consumer gets every message not being handled while the two handlers
// still run, not once mqctl closes its connection.
func TestExecStopReturnsPrefetchRabbitMQ(t *testing.T) {
	const n, prefetch = 40, 10
	env := testenv.RabbitMQ(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	j := jobsQueue(t, ctx, env, n)
	u, ch := j.url, j.ch

	conn, err := broker.Open(ctx, broker.Target{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := startGatedRun(t, ctx, conn, "rabbitmq", broker.ConsumerOptions{Sources: []string{"jobs"}, Prefetch: prefetch})
	// Stop once both handlers run and the broker filled the prefetch.
	deadline := time.Now().Add(20 * time.Second)
	for len(r.started(t)) < 2 ||
		testenv.WaitQueue(t, ch, "jobs", 0, func(amqp.Queue) bool { return true }).Messages > n-prefetch {
		if time.Now().After(deadline) {
			t.Fatalf("handlers started %v after 20s", r.started(t))
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.stop()

	// A second consumer gets the rest while the handlers still run.
	deliveries, err := ch.Consume("jobs", "second", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	wait := time.After(5 * time.Second)
	for len(got) < n-2 {
		select {
		case d := <-deliveries:
			id, _ := strconv.ParseUint(d.MessageId, 10, 64)
			got = append(got, id)
			if err := d.Ack(false); err != nil {
				t.Fatal(err)
			}
			continue
		case <-wait:
		}
		break
	}

	done := r.finish(t)
	eachOnce(t, done, got, n, "while the handlers ran")
	if q := testenv.WaitQueue(t, ch, "jobs", 0, func(amqp.Queue) bool { return true }); q.Messages != 0 {
		t.Errorf("queue holds %d messages after both, want none", q.Messages)
	}
}
