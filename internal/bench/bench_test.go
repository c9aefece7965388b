package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/broker/kafka"
	"github.com/mqctl/mqctl/internal/broker/nats"
	"github.com/mqctl/mqctl/internal/broker/rabbitmq"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func open(t *testing.T, url string) broker.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := broker.Open(ctx, broker.Target{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// run creates the destination the way the command does, runs w, and
// leaves the destination for the test to inspect (deleted at cleanup).
func run(t *testing.T, conn broker.Conn, name string, w Workload, k Knobs, hook int64) *Result {
	t.Helper()
	return runCtx(t, context.Background(), conn, name, w, k, hook, nil)
}

// runCtx is run with a context whose end is the run's Ctrl-C, and tick
// called once a second.
func runCtx(t *testing.T, ctx context.Context, conn broker.Conn, name string, w Workload, k Knobs, hook int64, tick func(Tick)) *Result {
	t.Helper()
	if w.InFlight == 0 {
		w.InFlight = 64
	}
	if w.Size == 0 {
		w.Size = 100
	}
	d, p, c, err := Plan(conn.Broker(), name, w, k)
	if err != nil {
		t.Fatal(err)
	}
	p.ConfirmTimeout = 10 * time.Second
	dests := conn.(broker.BenchDestinations)
	if err := dests.CreateBenchDestination(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := dests.DeleteBenchDestination(context.Background(), d); err != nil {
			t.Errorf("delete %s: %v", name, err)
		}
	})
	env := Env{Publisher: conn.(broker.Publisher), Subscriber: conn.(broker.Subscriber), Producer: p, Consumer: c, DropEvery: hook, Tick: tick}
	if hook > 0 {
		env.DrainIdle = 500 * time.Millisecond
	}
	r, err := Run(ctx, env, w)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func checkClean(t *testing.T, r *Result, n int64) {
	t.Helper()
	if r.Sent != n || r.Confirmed != n || r.Failed != 0 || r.Received != n || r.Lost != 0 || r.Duplicated != 0 || r.Foreign != 0 {
		t.Fatalf("want %d sent, confirmed and received, nothing else; got %+v (error %q)", n, *r, r.FirstError)
	}
	if got := r.Confirm.TotalCount(); got != n {
		t.Errorf("publish→confirm histogram holds %d values, want %d", got, n)
	}
	if got := r.E2E.TotalCount(); got != n {
		t.Errorf("end-to-end histogram holds %d values, want %d", got, n)
	}
	checkTimeline(t, r)
}

// checkTimeline: the per-second rows add up to the run's totals, counts
// and histograms alike (the last row holds the last part-second).
func checkTimeline(t *testing.T, r *Result) {
	t.Helper()
	var sent, confirmed, received, samples int64
	for _, k := range r.Timeline {
		sent, confirmed, received, samples = sent+k.Sent, confirmed+k.Confirmed, received+k.Received, samples+k.Confirm.Count
	}
	if len(r.Timeline) == 0 || sent != r.Sent || confirmed != r.Confirmed || received != r.Received || samples != r.Confirm.TotalCount() {
		t.Errorf("timeline of %d rows sums to sent %d confirmed %d received %d samples %d; run: %d %d %d %d",
			len(r.Timeline), sent, confirmed, received, samples, r.Sent, r.Confirmed, r.Received, r.Confirm.TotalCount())
	}
}

func TestJetStreamCountsReconcile(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn := open(t, srv.URL)
	r := run(t, conn, "mqctl-bench-js", Workload{Mode: "e2e", Producers: 2, Consumers: 2, Count: 2001}, Knobs{}, 0)
	checkClean(t, r, 2001)
	info, err := conn.(*nats.Conn).JetStream().Stream(context.Background(), "mqctl-bench-js")
	if err != nil {
		t.Fatal(err)
	}
	st, err := info.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.State.Msgs != 2001 {
		t.Errorf("stream holds %d messages, the bench confirmed %d", st.State.Msgs, r.Confirmed)
	}
}

func TestCoreNATSCounts(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn := open(t, srv.URL)
	r := run(t, conn, "mqctl-bench-core", Workload{Mode: "e2e", Producers: 1, Consumers: 2, Count: 500}, Knobs{Core: true}, 0)
	checkClean(t, r, 500)
}

func TestKafkaCountsReconcile(t *testing.T) {
	k := testenv.Kafka(t, sandbox.KafkaOptions{})
	conn := open(t, k.URL)
	r := run(t, conn, "mqctl-bench-kafka", Workload{Mode: "e2e", Producers: 2, Consumers: 2, Count: 1000}, Knobs{Partitions: 3}, 0)
	checkClean(t, r, 1000)
	ends, err := conn.(*kafka.Conn).Admin().ListEndOffsets(context.Background(), "mqctl-bench-kafka")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != 1000 {
		t.Errorf("end offsets sum to %d, the bench confirmed %d", total, r.Confirmed)
	}
}

func TestRabbitMQCountsReconcile(t *testing.T) {
	for _, qt := range []string{"classic", "quorum", "stream"} {
		t.Run(qt, func(t *testing.T) {
			env := testenv.RabbitMQ(t)
			conn := open(t, env.AMQPURL)
			name := testenv.UniqueName(t, "mqctl-bench")
			r := run(t, conn, name, Workload{Mode: "pub", Producers: 2, Consumers: 1, Count: 500}, Knobs{QueueType: qt}, 0)
			if r.Sent != 500 || r.Confirmed != 500 || r.Failed != 0 {
				t.Fatalf("pub: %+v", *r)
			}
			ch, err := conn.(*rabbitmq.Conn).AMQP().Channel()
			if err != nil {
				t.Fatal(err)
			}
			defer ch.Close()
			q, err := ch.QueueDeclarePassive(name, true, false, false, false, nil)
			if err != nil {
				t.Fatal(err)
			}
			// A stream's declare-ok counts nothing (its messages are not
			// "ready"); its e2e run below reads them back.
			if qt != "stream" && q.Messages != 500 {
				t.Errorf("queue holds %d messages, the bench confirmed %d", q.Messages, r.Confirmed)
			}
			// e2e on the same broker: everything confirmed arrives. Every
			// consumer of a stream reads all of it: one consumer there.
			consumers := 2
			if qt == "stream" {
				consumers = 1
			}
			r = run(t, conn, name+"-e2e", Workload{Mode: "e2e", Producers: 1, Consumers: consumers, Count: 500}, Knobs{QueueType: qt}, 0)
			checkClean(t, r, 500)
		})
	}
}

// TestRabbitMQWithoutConfirmsMultiAck: --confirm=false and --multi-ack
// together lose nothing, and the result says nothing was confirmed.
func TestRabbitMQWithoutConfirmsMultiAck(t *testing.T) {
	env := testenv.RabbitMQ(t)
	conn := open(t, env.AMQPURL)
	name := testenv.UniqueName(t, "mqctl-bench")
	r := run(t, conn, name, Workload{Mode: "e2e", Producers: 1, Consumers: 2, Count: 1003}, Knobs{NoConfirm: true, MultiAck: 10, Prefetch: 20}, 0)
	checkClean(t, r, 1003)
	if !r.Unconfirmed {
		t.Error("a run without confirms reads as confirmed")
	}
	s := Summarize(r, conn.Broker(), name)
	if tb := s.Table(); tb.Rows[1][0] != "written (no confirms)" {
		t.Errorf("summary row %q, want it to say written, not confirmed", tb.Rows[1][0])
	}
}

// TestBatch: --batch on every broker delivers everything, and no tick saw
// more in flight than a batch.
func TestBatch(t *testing.T) {
	nsrv := testenv.NATS(t, sandbox.NATSOptions{})
	k := testenv.Kafka(t, sandbox.KafkaOptions{})
	rmq := testenv.RabbitMQ(t)
	for _, c := range []struct {
		name, url string
		k         Knobs
	}{
		{"kafka", k.URL, Knobs{}},
		{"rabbitmq", rmq.AMQPURL, Knobs{}},
		{"jetstream", nsrv.URL, Knobs{}},
		{"core", nsrv.URL, Knobs{Core: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn := open(t, c.url)
			r := run(t, conn, testenv.UniqueName(t, "mqctl-bench"), Workload{Mode: "e2e", Producers: 1, Consumers: 1, Count: 1005, InFlight: 1000, Batch: 50}, c.k, 0)
			checkClean(t, r, 1005)
			if r.Unconfirmed != c.k.Core {
				t.Errorf("unconfirmed %v, want %v", r.Unconfirmed, c.k.Core)
			}
			for _, tk := range r.Timeline {
				if tk.InFlight > 50 {
					t.Errorf("%d in flight at %s, over the batch of 50", tk.InFlight, tk.Elapsed)
				}
			}
		})
	}
}

// TestLossDetected: a consumer that ignores every 100th delivery loses
// 1% of what was confirmed, and the run says so.
func TestLossDetected(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn := open(t, srv.URL)
	r := run(t, conn, "mqctl-bench-loss", Workload{Mode: "e2e", Producers: 1, Consumers: 1, Count: 1000}, Knobs{}, 100)
	if r.Confirmed != 1000 || r.Lost != 10 || r.Received != 990 {
		t.Fatalf("want 1000 confirmed, 990 received, 10 lost; got %+v", *r)
	}
}

// TestPublishDelayUnderRateOnly: under --rate every message's publish
// delay is recorded; without a schedule there is none to record (the
// summary leaves the row out), and every confirm is still timed.
func TestPublishDelayUnderRateOnly(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn := open(t, srv.URL)
	for _, rate := range []float64{5000, 0} {
		r := run(t, conn, testenv.UniqueName(t, "mqctl-bench"), Workload{Mode: "pub", Producers: 1, Consumers: 1, Count: 400, Rate: rate}, Knobs{Core: true}, 0)
		want := int64(400)
		if rate == 0 {
			want = 0
		}
		if got := r.Delay.TotalCount(); got != want {
			t.Errorf("rate %v: publish delay holds %d values, want %d", rate, got, want)
		}
		if got := r.Confirm.TotalCount(); got != 400 {
			t.Errorf("rate %v: publish→confirm holds %d values, want 400", rate, got)
		}
	}
}

// TestFewerMessagesThanWindow: a producer makes no more slots than it
// sends, down to a producer with nothing to send.
func TestFewerMessagesThanWindow(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn := open(t, srv.URL)
	for _, n := range []int64{2, 7} {
		r := run(t, conn, testenv.UniqueName(t, "mqctl-bench"), Workload{Mode: "e2e", Producers: 3, Consumers: 1, Count: n, InFlight: 64}, Knobs{}, 0)
		checkClean(t, r, n)
	}
}

// TestInterruptDrainsInFlight: Ctrl-C stops sending, and what was handed
// to the driver is still confirmed (the drain), not failed with the
// interrupt's context.Canceled. Unlimited rate keeps a full window in
// flight on every broker when the interrupt comes.
func TestInterruptDrainsInFlight(t *testing.T) {
	nsrv := testenv.NATS(t, sandbox.NATSOptions{})
	k := testenv.Kafka(t, sandbox.KafkaOptions{})
	rmq := testenv.RabbitMQ(t)
	for _, c := range []struct {
		name, url string
	}{
		{"kafka", k.URL},
		{"rabbitmq", rmq.AMQPURL},
		{"jetstream", nsrv.URL},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn := open(t, c.url)
			for i := 0; i < 3; i++ {
				// Ctrl-C once sending is under way (at a tick that saw
				// sends), not while the producers are still being opened.
				ctx, cancel := context.WithCancel(context.Background())
				tick := func(tk Tick) {
					if tk.TotalSent > 0 {
						cancel()
					}
				}
				r := runCtx(t, ctx, conn, testenv.UniqueName(t, "mqctl-bench"), Workload{Mode: "e2e", Producers: 2, Consumers: 1, Duration: time.Minute, InFlight: 256}, Knobs{}, 0, tick)
				cancel()
				if !r.Interrupted || r.Sent == 0 || r.Failed != 0 || r.Confirmed != r.Sent || r.Lost != 0 || r.Received != r.Confirmed {
					t.Fatalf("interrupted run %d: want everything sent confirmed and received; got %+v (error %q)", i, *r, r.FirstError)
				}
			}
		})
	}
}

// TestSubReportsWhatItRead: bench sub reads messages another run sent, so
// its throughput is what it received, in the messages' own bytes, not
// --size; the live line shows that rate (it showed 0 msg/s), and there is
// no end-to-end row of zeros (sub has no sender's clock).
func TestSubReportsWhatItRead(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn := open(t, srv.URL)
	const name, n = "mqctl-bench-sub", 3000
	run(t, conn, name, Workload{Mode: "pub", Producers: 1, Consumers: 1, Count: n, Size: 100}, Knobs{}, 0)
	w := Workload{Mode: "sub", Producers: 1, Consumers: 1, Count: n, Size: 1024, InFlight: 64}
	_, p, c, err := Plan(conn.Broker(), name, w, Knobs{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(context.Background(), Env{Publisher: conn.(broker.Publisher), Subscriber: conn.(broker.Subscriber), Producer: p, Consumer: c}, w)
	if err != nil {
		t.Fatal(err)
	}
	if r.Received != n || r.ReceivedBytes != n*100 {
		t.Fatalf("received %d messages, %d bytes; want %d and %d", r.Received, r.ReceivedBytes, n, n*100)
	}
	s := Summarize(r, conn.Broker(), name)
	if perMsg := s.MiBPerSec * (1 << 20) / s.MsgsPerSec; perMsg < 99.9 || perMsg > 100.1 {
		t.Errorf("MiB/s counts %.1f bytes a message, want the 100 read (not --size 1024)", perMsg)
	}
	if len(s.Latency) != 0 {
		t.Errorf("sub summary has latency rows %+v, want none", s.Latency)
	}
	var bytes int64
	for _, tk := range r.Timeline {
		bytes += tk.ReceivedBytes
		if tk.Received == 0 {
			continue
		}
		if line := LiveLine(tk, w.Size); strings.Contains(line, "  0 msg/s") {
			t.Errorf("live line %q shows no rate for %d received", line, tk.Received)
		}
		if row := timelineRow(tk, w.Size); row.MsgsPerSec != row.RecvPerSec || row.MiBPerSec == 0 {
			t.Errorf("timeline row %+v: msgs_per_sec is not what was received", row)
		}
	}
	if bytes != n*100 {
		t.Errorf("timeline received %d bytes, want %d", bytes, n*100)
	}
}
