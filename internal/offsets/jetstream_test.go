package offsets_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqctl/mqctl/internal/broker"
	_ "github.com/mqctl/mqctl/internal/broker/nats"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/offsets"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// jsEnv is a nats-server with stream ORDERS holding 20 messages and
// durable pull consumer worker (deliver all) that acked the first 10.
type jsEnv struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	r      broker.OffsetResetter
}

func newJSEnv(t *testing.T) *jsEnv {
	t.Helper()
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	nc, err := nats.Connect(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	ctx := ctxFor(t)
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if _, err := js.Publish(ctx, "orders.new", []byte("m")); err != nil {
			t.Fatal(err)
		}
	}
	e := &jsEnv{js: js, stream: s}
	e.durable(t, jetstream.ConsumerConfig{Durable: "worker", AckPolicy: jetstream.AckExplicitPolicy})
	if seqs := e.fetch(t, "worker", 10, true); seqs[9] != 10 {
		t.Fatalf("acked %v, want 1..10", seqs)
	}
	conn, err := broker.Open(ctx, broker.Target{URL: srv.URL, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if e.r, err = broker.As[broker.OffsetResetter](conn, "offsets reset"); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *jsEnv) durable(t *testing.T, cfg jetstream.ConsumerConfig) {
	t.Helper()
	if _, err := e.stream.CreateConsumer(ctxFor(t), cfg); err != nil {
		t.Fatal(err)
	}
}

// fetch reads n messages from consumer name, acking them (and waiting for
// the server's confirmation) when ack is set, and returns their stream
// sequences.
func (e *jsEnv) fetch(t *testing.T, name string, n int, ack bool) []uint64 {
	t.Helper()
	cons, err := e.stream.Consumer(ctxFor(t), name)
	if err != nil {
		t.Fatal(err)
	}
	seqs := testenv.FetchSeqs(t, ctxFor(t), cons, n, ack)
	if len(seqs) != n {
		t.Fatalf("fetched %v from %s, want %d messages", seqs, name, n)
	}
	return seqs
}

func TestJetStreamPlanAndReset(t *testing.T) {
	e := newJSEnv(t)
	ctx := ctxFor(t)
	m8, err := e.stream.GetMsg(ctx, 8)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		to   offsets.To
		want string
	}{
		{offsets.To{Kind: offsets.Earliest}, "ORDERS:0=1"},
		{offsets.To{Kind: offsets.Latest}, "ORDERS:0=21"},
		{offsets.To{Kind: offsets.Offset, N: 5}, "ORDERS:0=5"},
		{offsets.To{Kind: offsets.Offset, N: 100}, "ORDERS:0=21(stream end)"},
		{offsets.To{Kind: offsets.Shift, N: -3}, "ORDERS:0=8"},
		{offsets.To{Kind: offsets.AtTime, Time: m8.Time}, "ORDERS:0=8"},
		{offsets.To{Kind: offsets.AtTime, Time: m8.Time.Add(time.Hour)}, "ORDERS:0=21"},
	}
	for _, tc := range cases {
		p, err := offsets.MakePlan(ctx, e.r, offsets.Request{Group: "worker", To: tc.to})
		if err != nil {
			t.Fatalf("plan %s: %v", tc.to, err)
		}
		if g := got(p); g != tc.want || *p.Rows[0].Current != 11 || p.Partitioned {
			t.Errorf("plan %s: %s current %d, want %s current 11", tc.to, g, *p.Rows[0].Current, tc.want)
		}
	}
	// Named by its stream, too; and the plan left the consumer alone.
	p, err := offsets.MakePlan(ctx, e.r, offsets.Request{Group: "worker", Topics: []offsets.Topic{{Name: "ORDERS"}}, To: offsets.To{Kind: offsets.Offset, N: 4}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Action, "reset consumer worker of stream ORDERS in place") {
		t.Errorf("action %q", p.Action)
	}
	if err := offsets.Apply(ctx, e.r, &p); err != nil {
		t.Fatal(err)
	}
	// The consumer reads from 4 again, and its ack floor moved there.
	if seqs := e.fetch(t, "worker", 3, true); seqs[0] != 4 || seqs[2] != 6 {
		t.Errorf("after the reset to 4 the consumer read %v, want 4, 5, 6", seqs)
	}
	cons, _ := e.stream.Consumer(ctx, "worker")
	if ci := cons.CachedInfo(); ci.AckFloor.Stream != 6 || ci.NumPending != 14 || ci.Config.AckPolicy != jetstream.AckExplicitPolicy {
		t.Errorf("after the reset: ack floor %d, pending %d, config %+v", ci.AckFloor.Stream, ci.NumPending, ci.Config)
	}
}

func TestJetStreamRefusals(t *testing.T) {
	e := newJSEnv(t)
	ctx := ctxFor(t)
	e.durable(t, jetstream.ConsumerConfig{Durable: "fresh", DeliverPolicy: jetstream.DeliverNewPolicy, AckPolicy: jetstream.AckExplicitPolicy})
	e.durable(t, jetstream.ConsumerConfig{Durable: "from5", DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: 5, AckPolicy: jetstream.AckExplicitPolicy})
	other, err := e.js.CreateStream(ctx, jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"other.>"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "from5"}); err != nil {
		t.Fatal(err)
	}
	seq := func(n int64) offsets.To { return offsets.To{Kind: offsets.Offset, N: n} }
	orders := []offsets.Topic{{Name: "ORDERS"}}
	cases := []struct {
		name string
		req  offsets.Request
		kind mqerr.Kind
		text string
	}{
		{"unknown consumer", offsets.Request{Group: "nobody", To: seq(1)}, mqerr.NotFound, "no stream has a consumer named nobody"},
		{"unknown consumer on a stream", offsets.Request{Group: "nobody", To: seq(1), Topics: orders}, mqerr.NotFound, "stream ORDERS has no consumer named nobody"},
		{"unknown stream", offsets.Request{Group: "worker", To: seq(1), Topics: []offsets.Topic{{Name: "NOPE"}}}, mqerr.NotFound, "stream NOPE does not exist"},
		{"partitions", offsets.Request{Group: "worker", To: seq(1), Topics: []offsets.Topic{{Name: "ORDERS", Partitions: []int32{0}}}}, mqerr.Usage, "a JetStream stream has no partitions"},
		{"two streams", offsets.Request{Group: "worker", To: seq(1), Topics: []offsets.Topic{{Name: "ORDERS"}, {Name: "OTHER"}}}, mqerr.Usage, "one --topic"},
		{"ambiguous name", offsets.Request{Group: "from5", To: seq(6)}, mqerr.Usage, "streams ORDERS, OTHER each have a consumer named from5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := offsets.MakePlan(ctx, e.r, tc.req)
			if !mqerr.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("MakePlan: %v (kind %v), want kind %v with %q", err, mqerr.KindOf(err), tc.kind, tc.text)
			}
		})
	}
	// At or above its start sequence a by_start_sequence consumer moves in
	// place; below it, and a deliver-new consumer at all, are recreated.
	for _, tc := range []struct {
		name   string
		to     int64
		action string
	}{
		{"from5", 7, "reset consumer from5 of stream ORDERS in place"},
		{"from5", 3, "delete consumer from5 of stream ORDERS and create it again with the same configuration but deliver policy by_start_sequence from the new sequence, as the consumer starts at sequence 5"},
		{"fresh", 2, "delete consumer fresh of stream ORDERS and create it again with the same configuration but deliver policy by_start_sequence from the new sequence, as nats-server does not reset a consumer with deliver policy new in place"},
	} {
		p, err := offsets.MakePlan(ctx, e.r, offsets.Request{Group: tc.name, To: seq(tc.to), Topics: orders})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(p.Action, tc.action) {
			t.Errorf("%s to %d: action %q, want %q...", tc.name, tc.to, p.Action, tc.action)
		}
		if err := offsets.Apply(ctx, e.r, &p); err != nil {
			t.Fatal(err)
		}
		if seqs := e.fetch(t, tc.name, 2, true); seqs[0] != uint64(tc.to) || seqs[1] != uint64(tc.to)+1 {
			t.Errorf("%s after a reset to %d read %v", tc.name, tc.to, seqs)
		}
	}
	cons, err := e.stream.Consumer(ctx, "fresh")
	if err != nil {
		t.Fatal(err)
	}
	if cfg := cons.CachedInfo().Config; cfg.Durable != "fresh" || cfg.AckPolicy != jetstream.AckExplicitPolicy ||
		cfg.DeliverPolicy != jetstream.DeliverByStartSequencePolicy || cfg.OptStartSeq != 2 {
		t.Errorf("recreated consumer's config %+v", cfg)
	}
	if ci := cons.CachedInfo(); ci.AckFloor.Stream != 3 || ci.NumPending != 17 {
		t.Errorf("recreated consumer: ack floor %d pending %d, want 3 and 17", ci.AckFloor.Stream, ci.NumPending)
	}
}

func TestJetStreamLiveSubscriberRefused(t *testing.T) {
	e := newJSEnv(t)
	ctx := ctxFor(t)
	cons, err := e.stream.Consumer(ctx, "worker")
	if err != nil {
		t.Fatal(err)
	}
	// Messages keeps a pull request waiting once the backlog is read.
	it, err := cons.Messages(jetstream.PullMaxMessages(100))
	if err != nil {
		t.Fatal(err)
	}
	defer it.Stop()
	for range 10 {
		m, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		_ = m.DoubleAck(ctx)
	}
	deadline := time.Now().Add(testenv.Deadline(5 * time.Second))
	var p offsets.Plan
	for {
		if p, err = offsets.MakePlan(ctx, e.r, offsets.Request{Group: "worker", To: offsets.To{Kind: offsets.Earliest}}); err != nil {
			t.Fatal(err)
		}
		if p.Members > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	err = offsets.Apply(ctx, e.r, &p)
	if !mqerr.Is(err, mqerr.Usage) || !strings.Contains(err.Error(), "group worker has") || !strings.Contains(err.Error(), "live member") {
		t.Errorf("Apply with a waiting pull: %v", err)
	}
	ci, _ := e.stream.Consumer(ctx, "worker")
	if floor := ci.CachedInfo().AckFloor.Stream; floor != 20 {
		t.Errorf("a refused reset moved the ack floor to %d", floor)
	}
}
