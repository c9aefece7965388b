package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// jsSetup starts a server with stream name capturing "<lower name>.>".
func jsSetup(t *testing.T, name string) (*sandbox.NATS, *Conn, context.Context, jetstream.Stream) {
	t.Helper()
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn, ctx := natsConn(t, srv, broker.Target{})
	s := createStream(t, ctx, conn.JetStream(), jetstream.StreamConfig{Name: name, Subjects: []string{strings.ToLower(name) + ".>"}})
	return srv, conn, ctx, s
}

func newConsumer(t *testing.T, ctx context.Context, conn *Conn, o broker.ConsumerOptions) broker.Consumer {
	t.Helper()
	c, err := conn.NewConsumer(ctx, o)
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// next returns the next delivery, failing t after 10s.
func next(t *testing.T, ctx context.Context, c broker.Consumer) *broker.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d, err := c.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return d
}

// quiet fails t if a delivery comes within d.
func quiet(t *testing.T, ctx context.Context, c broker.Consumer, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if got, err := c.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next = %v, %v; want nothing within %s", seqOf(got), err, d)
	}
}

// untilEOF reads to io.EOF, acking each delivery, and returns their
// stream sequences.
func untilEOF(t *testing.T, ctx context.Context, c broker.Consumer) []uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var seqs []uint64
	for {
		d, err := c.Next(ctx)
		if err == io.EOF {
			return seqs
		}
		if err != nil {
			t.Fatalf("Next after %v: %v", seqs, err)
		}
		if err := d.Ack(ctx); err != nil {
			t.Fatalf("Ack: %v", err)
		}
		seqs = append(seqs, d.NATS.StreamSeq)
	}
}

func seqOf(d *broker.Delivery) any {
	if d == nil {
		return nil
	}
	return d.NATS.StreamSeq
}

func seqs(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// logs records what a consumer reports through Logf.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logs) has(sub string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.lines, func(s string) bool { return strings.Contains(s, sub) })
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func TestConsumeRoundTrip(t *testing.T) {
	_, conn, ctx, _ := jsSetup(t, "RT")
	js := conn.JetStream()
	binary := []byte{0, 1, 2, 0xff, 0xfe, '\n', 0x80}
	msgs := []*nats.Msg{
		{Subject: "rt.a", Data: binary, Header: nats.Header{
			"trace":        {"first", "second"},
			"Content-Type": {"application/octet-stream"},
			"Trace":        {"other case"},
			"Nats-Msg-Id":  {"id-0"},
		}},
		{Subject: "rt.b.c", Data: []byte{}},
		{Subject: "rt.a", Data: []byte("plain text")},
	}
	before := time.Now().Add(-time.Second)
	for _, m := range msgs {
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	after := time.Now().Add(time.Second)

	c := newConsumer(t, ctx, conn, broker.ConsumerOptions{Sources: []string{"RT"}, UntilEnd: true})
	wantHeaders := [][]broker.Header{
		{
			{Key: "Content-Type", Value: []byte("application/octet-stream")},
			{Key: "Nats-Msg-Id", Value: []byte("id-0")},
			{Key: "Trace", Value: []byte("other case")},
			{Key: "trace", Value: []byte("first")},
			{Key: "trace", Value: []byte("second")},
		},
		nil,
		nil,
	}
	var consumer string
	for i, m := range msgs {
		d := next(t, ctx, c)
		if string(d.Value) != string(m.Data) || d.Key != nil {
			t.Errorf("message %d: key %q value %q, want no key and %q", i, d.Key, d.Value, m.Data)
		}
		if !slices.EqualFunc(d.Headers, wantHeaders[i], func(a, b broker.Header) bool { return a.Key == b.Key && string(a.Value) == string(b.Value) }) {
			t.Errorf("message %d headers = %q, want %q", i, d.Headers, wantHeaders[i])
		}
		if d.Destination != m.Subject || d.NATS.Subject != m.Subject {
			t.Errorf("message %d destination %q subject %q, want %q", i, d.Destination, d.NATS.Subject, m.Subject)
		}
		if i == 0 {
			consumer = d.NATS.Consumer
		}
		want := broker.NATSMeta{Subject: m.Subject, Stream: "RT", Consumer: consumer, StreamSeq: uint64(i + 1), ConsumerSeq: uint64(i + 1), NumDelivered: 1}
		if i == 0 {
			want.MsgID = "id-0"
		}
		if d.NATS != want || consumer == "" {
			t.Errorf("message %d meta = %+v, want %+v", i, d.NATS, want)
		}
		if d.Timestamp.Before(before) || d.Timestamp.After(after) {
			t.Errorf("message %d timestamp %v, want between %v and %v", i, d.Timestamp, before, after)
		}
		if err := d.Ack(ctx); err != nil {
			t.Errorf("Ack %d: %v", i, err)
		}
	}
	if _, err := c.Next(ctx); err != io.EOF {
		t.Fatalf("Next after the last message = %v, want io.EOF", err)
	}
	if n := c.Buffered(); n != 0 {
		t.Errorf("Buffered at the end = %d, want 0", n)
	}
}

// A delivery carries the JetStream metadata of its reply subject: stream,
// consumer, sequences, delivery count, stored time, pending.
func TestDeliveryMetadata(t *testing.T) {
	_, conn, ctx, _ := jsSetup(t, "META")
	before := time.Now().Add(-time.Minute)
	publishN(t, ctx, conn.JetStream(), "meta.x", 3)
	c := newConsumer(t, ctx, conn, broker.ConsumerOptions{Sources: []string{"META"}, Durable: "reader"})
	for i := uint64(1); i <= 3; i++ {
		d := next(t, ctx, c)
		want := broker.NATSMeta{Subject: "meta.x", Stream: "META", Consumer: "reader", NumDelivered: 1, StreamSeq: i, ConsumerSeq: i}
		got := d.NATS
		got.MsgID = ""
		if got != want || d.Timestamp.Before(before) {
			t.Errorf("delivery %d: %+v at %v, want %+v", i, d.NATS, d.Timestamp, want)
		}
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConsumeBuffered(t *testing.T) {
	_, conn, ctx, _ := jsSetup(t, "BUF")
	publishN(t, ctx, conn.JetStream(), "buf.x", 20)
	c := newConsumer(t, ctx, conn, broker.ConsumerOptions{Sources: []string{"BUF"}, Prefetch: 50})
	next(t, ctx, c)
	deadline := time.Now().Add(5 * time.Second)
	for c.Buffered() < 19 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for want := 19; want > 0; want-- {
		if got := c.Buffered(); got != want {
			t.Fatalf("Buffered = %d, want %d", got, want)
		}
		next(t, ctx, c)
	}
	if got := c.Buffered(); got != 0 {
		t.Fatalf("Buffered after all = %d, want 0", got)
	}
}

// durable creates a durable pull consumer with a short ack wait, so that
// the tests see redeliveries quickly.
func durable(t *testing.T, ctx context.Context, js jetstream.JetStream, stream, name string) {
	t.Helper()
	pullConsumer(t, ctx, js, stream, jetstream.ConsumerConfig{Durable: name, AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Second})
}

func TestConsumeManualAck(t *testing.T) {
	_, conn, ctx, _ := jsSetup(t, "ACK")
	js := conn.JetStream()
	durable(t, ctx, js, "ACK", "work")
	publishN(t, ctx, js, "ack.x", 3)
	o := broker.ConsumerOptions{Sources: []string{"ACK"}, Durable: "work"}

	first, err := conn.NewConsumer(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	ds := []*broker.Delivery{next(t, ctx, first), next(t, ctx, first), next(t, ctx, first)}
	if err := ds[0].Ack(ctx); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := ds[1].Ack(ctx); !errors.Is(err, broker.ErrStaleDelivery) {
		t.Errorf("Ack after Close = %v, want ErrStaleDelivery", err)
	}

	// The unacked ones come again after the ack wait, the acked one not.
	second := newConsumer(t, ctx, conn, o)
	for _, want := range []uint64{2, 3} {
		d := next(t, ctx, second)
		if d.NATS.StreamSeq != want || d.NATS.NumDelivered != 2 {
			t.Errorf("redelivery: seq %d delivered %d times, want seq %d delivered twice", d.NATS.StreamSeq, d.NATS.NumDelivered, want)
		}
		if err := d.Ack(ctx); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
	quiet(t, ctx, second, 1500*time.Millisecond)
}

// TestConsumeCloseReturnsUnread shows that what a durable consumer pulled
// and Next never returned comes again at once after Close, while a
// returned, unsettled delivery waits for the ack wait.
func TestConsumeCloseReturnsUnread(t *testing.T) {
	_, conn, ctx, _ := jsSetup(t, "UNREAD")
	js := conn.JetStream()
	pullConsumer(t, ctx, js, "UNREAD", jetstream.ConsumerConfig{Durable: "w", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second})
	publishN(t, ctx, js, "unread.x", 5)
	o := broker.ConsumerOptions{Sources: []string{"UNREAD"}, Durable: "w"}
	first, err := conn.NewConsumer(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	next(t, ctx, first)
	deadline := time.Now().Add(5 * time.Second)
	for first.Buffered() < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	first.Close()

	second := newConsumer(t, ctx, conn, o)
	var got []uint64
	for range 4 {
		wait, cancel := context.WithTimeout(ctx, 3*time.Second)
		d, err := second.Next(wait)
		cancel()
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		got = append(got, d.NATS.StreamSeq)
	}
	// Redeliveries need not come in stream order.
	if slices.Sort(got); !slices.Equal(got, seqs(2, 5)) {
		t.Errorf("got %v, want 2..5", got)
	}
	quiet(t, ctx, second, 500*time.Millisecond)
}

// TestConsumeCloseReturnsPulled is TestConsumeCloseReturnsUnread with
// more pulled than the prefetch holds: a durable whose max ack pending is
// above mqctl's prefetch lets the server send more while Next is not
// called, which wait in nats.go's buffer. Close gives those back too.
func TestConsumeCloseReturnsPulled(t *testing.T) {
	const n, prefetch = 40, 5
	_, conn, ctx, _ := jsSetup(t, "PULLED")
	js := conn.JetStream()
	cons := pullConsumer(t, ctx, js, "PULLED", jetstream.ConsumerConfig{Durable: "w", AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: 2 * time.Minute, MaxAckPending: 1000})
	publishN(t, ctx, js, "pulled.x", n)
	o := broker.ConsumerOptions{Sources: []string{"PULLED"}, Durable: "w", Prefetch: prefetch}
	first, err := conn.NewConsumer(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := next(t, ctx, first).Ack(ctx); err != nil {
		t.Fatal(err)
	}
	// Delivered by the server beyond what Next returned (1), the
	// deliveries held (at most prefetch-1 + prefetch) and the one the
	// callback waits to queue.
	beyond := 2*prefetch + 1
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if int(info.NumAckPending) > beyond {
			break
		}
		if time.Now().After(deadline) {
			// A loaded server may stop at one pull batch: what was
			// delivered beyond Next's one still tests the give-back.
			if int(info.NumAckPending) <= prefetch {
				t.Fatalf("the server delivered %d after 10s; want more than %d", info.NumAckPending, prefetch)
			}
			t.Logf("the server delivered %d after 10s (hoped for more than %d)", info.NumAckPending, beyond)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	first.Close()

	second := newConsumer(t, ctx, conn, o)
	var got []uint64
	for len(got) < n-1 {
		wait, cancel := context.WithTimeout(ctx, 3*time.Second)
		d, err := second.Next(wait)
		cancel()
		if err != nil {
			slices.Sort(got)
			t.Fatalf("got %v within 3s each of an ack wait of 2m: %v", got, err)
		}
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
		got = append(got, d.NATS.StreamSeq)
	}
	if slices.Sort(got); !slices.Equal(got, seqs(2, n)) {
		t.Errorf("got %v, want 2..%d", got, n)
	}
	quiet(t, ctx, second, 500*time.Millisecond)
}

func TestConsumeNack(t *testing.T) {
	_, conn, ctx, _ := jsSetup(t, "NAK")
	publishN(t, ctx, conn.JetStream(), "nak.x", 1)
	c := newConsumer(t, ctx, conn, broker.ConsumerOptions{Sources: []string{"NAK"}})

	d := next(t, ctx, c)
	if err := d.Nack(ctx, 0); err != nil {
		t.Fatalf("Nack: %v", err)
	}
	d = next(t, ctx, c)
	if d.NATS.StreamSeq != 1 || d.NATS.NumDelivered != 2 {
		t.Fatalf("after Nack: seq %d delivered %d times, want seq 1 twice", d.NATS.StreamSeq, d.NATS.NumDelivered)
	}

	const delay = 400 * time.Millisecond
	nacked := time.Now()
	if err := d.Nack(ctx, delay); err != nil {
		t.Fatalf("Nack with delay: %v", err)
	}
	d = next(t, ctx, c)
	if waited := time.Since(nacked); waited < delay-50*time.Millisecond {
		t.Errorf("redelivered after %s, want at least %s", waited, delay)
	}
	if d.NATS.NumDelivered != 3 {
		t.Errorf("delivered %d times, want 3", d.NATS.NumDelivered)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	if err := d.Ack(ctx); err == nil || errors.Is(err, broker.ErrStaleDelivery) {
		t.Errorf("second Ack = %v, want an already-settled error", err)
	}
	quiet(t, ctx, c, 500*time.Millisecond)
}

func TestConsumeTerm(t *testing.T) {
	_, conn, ctx, _ := jsSetup(t, "TERM")
	advisories := make(chan *nats.Msg, 4)
	sub, err := conn.NATS().ChanSubscribe("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.>", advisories)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	publishN(t, ctx, conn.JetStream(), "term.x", 2)
	c := newConsumer(t, ctx, conn, broker.ConsumerOptions{Sources: []string{"TERM"}})

	d := next(t, ctx, c)
	if err := d.Term(ctx); err != nil {
		t.Fatalf("Term: %v", err)
	}
	select {
	case m := <-advisories:
		var adv struct {
			Stream    string `json:"stream"`
			Consumer  string `json:"consumer"`
			StreamSeq uint64 `json:"stream_seq"`
		}
		if err := json.Unmarshal(m.Data, &adv); err != nil {
			t.Fatal(err)
		}
		if adv.Stream != "TERM" || adv.Consumer != d.NATS.Consumer || adv.StreamSeq != 1 {
			t.Errorf("advisory %+v, want stream TERM, consumer %s, seq 1", adv, d.NATS.Consumer)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no MSG_TERMINATED advisory")
	}
	if d := next(t, ctx, c); d.NATS.StreamSeq != 2 {
		t.Errorf("after Term got seq %d, want 2", d.NATS.StreamSeq)
	}
}

func TestConsumeInProgress(t *testing.T) {
	_, conn, ctx, _ := jsSetup(t, "WPI")
	js := conn.JetStream()
	durable(t, ctx, js, "WPI", "slow")
	publishN(t, ctx, js, "wpi.x", 1)
	c := newConsumer(t, ctx, conn, broker.ConsumerOptions{Sources: []string{"WPI"}, Durable: "slow"})

	d := next(t, ctx, c)
	// Longer than the ack wait of 1s, kept alive by +WPI.
	for range 4 {
		time.Sleep(400 * time.Millisecond)
		if err := d.InProgress(ctx); err != nil {
			t.Fatalf("InProgress: %v", err)
		}
	}
	quiet(t, ctx, c, 300*time.Millisecond)
	if err := d.Ack(ctx); err != nil {
		t.Fatalf("Ack after InProgress: %v", err)
	}
}

func TestConsumeStartPositions(t *testing.T) {
	_, conn, ctx, _ := jsSetup(t, "POS")
	js := conn.JetStream()
	publishN(t, ctx, js, "pos.x", 5)
	time.Sleep(20 * time.Millisecond)
	middle := time.Now()
	time.Sleep(20 * time.Millisecond)
	publishN(t, ctx, js, "pos.x", 5)

	tests := []struct {
		name    string
		from    broker.StartPosition
		durable string
		want    []uint64
	}{
		{"default", broker.StartPosition{}, "", seqs(1, 10)},
		{"beginning", broker.StartPosition{Kind: broker.StartBeginning}, "", seqs(1, 10)},
		{"end", broker.StartPosition{Kind: broker.StartEnd}, "", nil},
		{"offset", broker.StartPosition{Kind: broker.StartOffset, N: 4}, "", seqs(4, 10)},
		{"offset past the end", broker.StartPosition{Kind: broker.StartOffset, N: 11}, "", nil},
		{"last", broker.StartPosition{Kind: broker.StartLast, N: 3}, "", seqs(8, 10)},
		{"last more than stored", broker.StartPosition{Kind: broker.StartLast, N: 20}, "", seqs(1, 10)},
		{"time", broker.StartPosition{Kind: broker.StartTime, Time: middle}, "", seqs(6, 10)},
		{"stored of a new durable", broker.StartPosition{Kind: broker.StartStored}, "fresh", seqs(1, 10)},
		{"offset of a new durable", broker.StartPosition{Kind: broker.StartOffset, N: 9}, "fresh9", seqs(9, 10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConsumer(t, ctx, conn, broker.ConsumerOptions{Sources: []string{"POS"}, From: tt.from, Durable: tt.durable, UntilEnd: true})
			if got := untilEOF(t, ctx, c); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("end waits for new messages", func(t *testing.T) {
		c := newConsumer(t, ctx, conn, broker.ConsumerOptions{Sources: []string{"POS"}, From: broker.StartPosition{Kind: broker.StartEnd}})
		publishN(t, ctx, js, "pos.x", 1)
		if d := next(t, ctx, c); d.NATS.StreamSeq != 11 {
			t.Errorf("got seq %d, want 11", d.NATS.StreamSeq)
		}
	})
}

func TestConsumeUntilEnd(t *testing.T) {
	t.Run("ignores later messages", func(t *testing.T) {
		_, conn, ctx, _ := jsSetup(t, "END")
		js := conn.JetStream()
		publishN(t, ctx, js, "end.x", 5)
		c := newConsumer(t, ctx, conn, broker.ConsumerOptions{Sources: []string{"END"}, UntilEnd: true})
		publishN(t, ctx, js, "end.x", 5)
		if got := untilEOF(t, ctx, c); !slices.Equal(got, seqs(1, 5)) {
			t.Errorf("got %v, want 1..5", got)
		}
	})
	t.Run("filter subject", func(t *testing.T) {
		_, conn, ctx, _ := jsSetup(t, "FLT")
		js := conn.JetStream()
		for range 3 {
			publishN(t, ctx, js, "flt.a", 1)
			publishN(t, ctx, js, "flt.b", 1)
		}
		c := newConsumer(t, ctx, conn, broker.ConsumerOptions{Sources: []string{"FLT"}, FilterSubject: "flt.a", UntilEnd: true})
		if got := untilEOF(t, ctx, c); !slices.Equal(got, []uint64{1, 3, 5}) {
			t.Errorf("got %v, want [1 3 5]", got)
		}
	})
	t.Run("last message removed", func(t *testing.T) {
		_, conn, ctx, s := jsSetup(t, "GAP")
		js := conn.JetStream()
		publishN(t, ctx, js, "gap.x", 3)
		// One in flight at a time, so the change lands before seq 2 goes out.
		c := newConsumer(t, ctx, conn, broker.ConsumerOptions{Sources: []string{"GAP"}, UntilEnd: true, Prefetch: 1})
		d := next(t, ctx, c)
		if err := s.DeleteMsg(ctx, 3); err != nil {
			t.Fatal(err)
		}
		publishN(t, ctx, js, "gap.x", 1)
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
		if got := untilEOF(t, ctx, c); !slices.Equal(got, []uint64{2}) {
			t.Errorf("got %v after seq 1, want [2]: seq 4 came after the start", got)
		}
	})
	t.Run("empty stream", func(t *testing.T) {
		_, conn, ctx, _ := jsSetup(t, "EMPTY")
		c := newConsumer(t, ctx, conn, broker.ConsumerOptions{Sources: []string{"EMPTY"}, UntilEnd: true})
		if got := untilEOF(t, ctx, c); len(got) != 0 {
			t.Errorf("got %v, want nothing", got)
		}
	})
}

func TestConsumePeek(t *testing.T) {
	_, conn, ctx, s := jsSetup(t, "PEEK")
	publishN(t, ctx, conn.JetStream(), "peek.x", 3)
	for round := range 2 {
		c, err := conn.NewConsumer(ctx, broker.ConsumerOptions{Sources: []string{"PEEK"}, Peek: true, UntilEnd: true})
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Consumer(ctx, next(t, ctx, c).NATS.Consumer)
		if err != nil {
			t.Fatal(err)
		}
		if p := info.CachedInfo().Config.AckPolicy; p != jetstream.AckNonePolicy {
			t.Errorf("round %d: ack policy %v, want none", round, p)
		}
		// Settling a peeked delivery does nothing, so the next round
		// sees every message again, delivered once to its own consumer.
		if got := untilEOF(t, ctx, c); !slices.Equal(got, []uint64{2, 3}) {
			t.Errorf("round %d: got %v after the first, want [2 3]", round, got)
		}
		c.Close()
		if n := consumerCount(t, ctx, s); n != 0 {
			t.Errorf("round %d: %d consumers left after Close, want 0", round, n)
		}
	}
}

func consumerCount(t *testing.T, ctx context.Context, s jetstream.Stream) int {
	t.Helper()
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Consumers
}

func TestConsumeDurable(t *testing.T) {
	_, conn, ctx, s := jsSetup(t, "DUR")
	js := conn.JetStream()
	publishN(t, ctx, js, "dur.a", 3)
	publishN(t, ctx, js, "dur.b", 1)

	var log logs
	o := broker.ConsumerOptions{Sources: []string{"DUR"}, Durable: "made", FilterSubject: "dur.a", Prefetch: 7,
		From: broker.StartPosition{Kind: broker.StartOffset, N: 2}, Logf: log.logf}
	c := newConsumer(t, ctx, conn, o)
	if d := next(t, ctx, c); d.NATS.StreamSeq != 2 || d.NATS.Consumer != "made" {
		t.Errorf("first delivery seq %d of %q, want 2 of made", d.NATS.StreamSeq, d.NATS.Consumer)
	} else if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	c.Close()

	cons, err := s.Consumer(ctx, "made")
	if err != nil {
		t.Fatalf("the durable consumer is gone after Close: %v", err)
	}
	cfg := cons.CachedInfo().Config
	if cfg.AckPolicy != jetstream.AckExplicitPolicy || cfg.MaxAckPending != 7 || cfg.FilterSubject != "dur.a" ||
		cfg.DeliverPolicy != jetstream.DeliverByStartSequencePolicy || cfg.OptStartSeq != 2 || cfg.InactiveThreshold != 0 {
		t.Errorf("created config %+v", cfg)
	}

	// Bound again, it resumes where it was and says the start is ignored.
	o.From = broker.StartPosition{Kind: broker.StartBeginning}
	c = newConsumer(t, ctx, conn, o)
	if d := next(t, ctx, c); d.NATS.StreamSeq != 3 {
		t.Errorf("resumed at seq %d, want 3", d.NATS.StreamSeq)
	}
	if !log.has("resumes from its stored position") {
		t.Errorf("no warning that the start position is ignored; logs:\n%s", &log)
	}
}

func TestConsumeErrors(t *testing.T) {
	_, conn, ctx, _ := jsSetup(t, "ERR")
	js := conn.JetStream()
	pullConsumer(t, ctx, js, "ERR", jetstream.ConsumerConfig{Durable: "filtered", FilterSubject: "err.a", AckPolicy: jetstream.AckExplicitPolicy})
	pullConsumer(t, ctx, js, "ERR", jetstream.ConsumerConfig{Durable: "noack", AckPolicy: jetstream.AckNonePolicy})
	if _, err := js.CreateOrUpdatePushConsumer(ctx, "ERR", jetstream.ConsumerConfig{Durable: "pushed", DeliverSubject: "deliver.here", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	stream := []string{"ERR"}

	tests := []struct {
		name string
		o    broker.ConsumerOptions
		kind mqerr.Kind
		text string
	}{
		{"missing stream", broker.ConsumerOptions{Sources: []string{"NOPE"}}, mqerr.NotFound, `stream "NOPE" not found on nats at 127.0.0.1:`},
		{"invalid stream name", broker.ConsumerOptions{Sources: []string{"a.b"}}, mqerr.Usage, "not a valid stream name"},
		{"two streams", broker.ConsumerOptions{Sources: []string{"ERR", "ERR"}}, mqerr.Usage, "exactly one stream"},
		{"no stream", broker.ConsumerOptions{}, mqerr.Usage, "exactly one stream"},
		{"peek with durable", broker.ConsumerOptions{Sources: stream, Peek: true, Durable: "d"}, mqerr.Usage, "--ack none cannot use durable consumer d; it would leave its messages unacked"},
		{"stored without durable", broker.ConsumerOptions{Sources: stream, From: broker.StartPosition{Kind: broker.StartStored}}, mqerr.Usage, "needs a durable consumer"},
		{"offset 0", broker.ConsumerOptions{Sources: stream, From: broker.StartPosition{Kind: broker.StartOffset}}, mqerr.Usage, "start at 1"},
		{"last 0", broker.ConsumerOptions{Sources: stream, From: broker.StartPosition{Kind: broker.StartLast}}, mqerr.Usage, "positive number"},
		{"zero time", broker.ConsumerOptions{Sources: stream, From: broker.StartPosition{Kind: broker.StartTime}}, mqerr.Usage, "needs a time"},
		{"queue group without core", broker.ConsumerOptions{Sources: stream, QueueGroup: "g"}, mqerr.Usage, "--queue-group needs --core"},
		{"kafka group", broker.ConsumerOptions{Sources: stream, Group: "g"}, mqerr.Usage, "Kafka's"},
		{"bad filter", broker.ConsumerOptions{Sources: stream, FilterSubject: "err.>.x"}, mqerr.Usage, "must be the last token"},
		{"other filter of a durable", broker.ConsumerOptions{Sources: stream, Durable: "filtered", FilterSubject: "err.b"}, mqerr.Usage, `reads "err.a", not "err.b"`},
		{"durable without acks", broker.ConsumerOptions{Sources: stream, Durable: "noack"}, mqerr.Usage, "takes no acks"},
		{"push consumer", broker.ConsumerOptions{Sources: stream, Durable: "pushed"}, mqerr.Usage, "is a push consumer"},
		{"invalid durable name", broker.ConsumerOptions{Sources: stream, Durable: "a.b"}, mqerr.Usage, "not a valid consumer name"},
		{"core until end", broker.ConsumerOptions{Sources: []string{"err.x"}, Core: true, UntilEnd: true}, mqerr.Usage, "no end"},
		{"core durable", broker.ConsumerOptions{Sources: []string{"err.x"}, Core: true, Durable: "d"}, mqerr.Usage, "no durable consumers"},
		{"core from", broker.ConsumerOptions{Sources: []string{"err.x"}, Core: true, From: broker.StartPosition{Kind: broker.StartBeginning}}, mqerr.Usage, "--from does not apply"},
		{"core empty token", broker.ConsumerOptions{Sources: []string{"err..x"}, Core: true}, mqerr.Usage, "empty token"},
		{"core two subjects", broker.ConsumerOptions{Sources: []string{"a", "b"}, Core: true}, mqerr.Usage, "exactly one subject"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := conn.NewConsumer(ctx, tt.o)
			if err == nil {
				c.Close()
				t.Fatal("NewConsumer succeeded")
			}
			if mqerr.KindOf(err) != tt.kind || !strings.Contains(err.Error(), tt.text) || strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %q (kind %v), want kind %v containing %q", err, mqerr.KindOf(err), tt.kind, tt.text)
			}
		})
	}
}

func TestConsumeWithoutJetStream(t *testing.T) {
	withoutJetStream(t, func(t *testing.T, conn *Conn, ctx context.Context) {
		_, err := conn.NewConsumer(ctx, broker.ConsumerOptions{Sources: []string{"ANY"}})
		if !mqerr.Is(err, mqerr.NotFound) || !strings.Contains(err.Error(), "JetStream is not enabled") {
			t.Errorf("err = %v (kind %v), want NotFound saying JetStream is not enabled", err, mqerr.KindOf(err))
		}
	})
}

func TestConsumePermissionDenied(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{Configure: func(o *server.Options) {
		o.Users = []*server.User{{Username: "limited", Password: "limited-pass", Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{"public.>"}},
			Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>", "public.>"}},
		}}}
	}})
	conn, ctx := natsConn(t, srv, broker.Target{Username: "limited", Password: "limited-pass"})
	tests := []struct {
		name string
		o    broker.ConsumerOptions
		text string
	}{
		{"core subject", broker.ConsumerOptions{Sources: []string{"secret.x"}, Core: true}, `denied this user subscribing to "secret.x"`},
		{"JetStream API", broker.ConsumerOptions{Sources: []string{"ANY"}}, "denied this user the JetStream API"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			_, err := conn.NewConsumer(lookup, tt.o)
			if !mqerr.Is(err, mqerr.Auth) || !strings.Contains(err.Error(), tt.text) || strings.Contains(err.Error(), "limited-pass") {
				t.Errorf("err = %v (kind %v), want Auth containing %q", err, mqerr.KindOf(err), tt.text)
			}
		})
	}
	c := newConsumer(t, ctx, conn, broker.ConsumerOptions{Sources: []string{"public.>"}, Core: true})
	if err := conn.NATS().Publish("public.x", []byte("ok")); err != nil {
		t.Fatal(err)
	}
	if d := next(t, ctx, c); string(d.Value) != "ok" {
		t.Errorf("allowed subject delivered %q", d.Value)
	}
}

func TestConsumeClose(t *testing.T) {
	_, conn, ctx, s := jsSetup(t, "CLOSE")
	publishN(t, ctx, conn.JetStream(), "close.x", 3)
	c, err := conn.NewConsumer(ctx, broker.ConsumerOptions{Sources: []string{"CLOSE"}})
	if err != nil {
		t.Fatal(err)
	}
	d := next(t, ctx, c)
	cons, err := s.Consumer(ctx, d.NATS.Consumer)
	if err != nil {
		t.Fatal(err)
	}
	cfg := cons.CachedInfo().Config
	if cfg.AckPolicy != jetstream.AckExplicitPolicy || cfg.MaxAckPending != defaultPrefetch || cfg.InactiveThreshold != ephemeralIdle || cfg.Durable != "" {
		t.Errorf("ephemeral consumer config %+v", cfg)
	}
	if n := consumerCount(t, ctx, s); n != 1 {
		t.Fatalf("%d consumers while open, want 1", n)
	}
	for range 2 {
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if n := consumerCount(t, ctx, s); n != 0 {
		t.Errorf("%d consumers after Close, want the ephemeral one removed", n)
	}
	if err := d.Ack(ctx); !errors.Is(err, broker.ErrStaleDelivery) {
		t.Errorf("Ack after Close = %v, want ErrStaleDelivery", err)
	}
	if _, err := c.Next(ctx); err == nil {
		t.Error("Next after Close succeeded")
	}
}

func TestConsumeCloseUnblocksNext(t *testing.T) {
	_, conn, ctx, _ := jsSetup(t, "IDLE")
	c, err := conn.NewConsumer(ctx, broker.ConsumerOptions{Sources: []string{"IDLE"}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Next(ctx)
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Next returned a delivery from an empty stream")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next still blocked after Close")
	}
}

func TestConsumeCloseBounded(t *testing.T) {
	srv, conn, ctx, _ := jsSetup(t, "DOWN")
	c, err := conn.NewConsumer(ctx, broker.ConsumerOptions{Sources: []string{"DOWN"}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Server().Shutdown()
	start := time.Now()
	c.Close()
	if took := time.Since(start); took > testenv.Deadline(opTimeout) {
		t.Errorf("Close with the server down took %s", took)
	}
}

func TestConsumeCore(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn, ctx := natsConn(t, srv, broker.Target{})
	var log logs
	// A context without deadline: NewConsumer bounds its own waits.
	c := newConsumer(t, context.Background(), conn, broker.ConsumerOptions{Sources: []string{"core.*"}, Core: true, QueueGroup: "workers", Logf: log.logf})
	if !log.has("no acknowledgement") {
		t.Errorf("no warning about core NATS acks; logs:\n%s", &log)
	}
	nc := conn.NATS()
	msg := &nats.Msg{Subject: "core.a", Data: []byte{0, 0xff}, Header: nats.Header{"k": {"1", "2"}, "Nats-Msg-Id": {"m1"}}}
	if err := nc.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("other.a", []byte("not subscribed")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("core.b", []byte("second")); err != nil {
		t.Fatal(err)
	}
	d := next(t, ctx, c)
	want := []broker.Header{{Key: "Nats-Msg-Id", Value: []byte("m1")}, {Key: "k", Value: []byte("1")}, {Key: "k", Value: []byte("2")}}
	if string(d.Value) != "\x00\xff" || d.Destination != "core.a" || d.NATS.Subject != "core.a" || d.NATS.MsgID != "m1" ||
		!slices.EqualFunc(d.Headers, want, func(a, b broker.Header) bool { return a.Key == b.Key && string(a.Value) == string(b.Value) }) {
		t.Errorf("delivery %+v", d.Message)
	}
	for _, v := range []broker.Verb{broker.Ack, broker.Nack, broker.Term, broker.InProgress} {
		if err := d.Settler.Settle(ctx, broker.Settlement{Verb: v}); err != nil {
			t.Errorf("%s: %v, want a no-op", v, err)
		}
	}
	if d := next(t, ctx, c); string(d.Value) != "second" {
		t.Errorf("second delivery %q", d.Value)
	}
}

// TestConsumeRestart proves that consumers ride out a broker restart: a
// JetStream durable delivers every message and takes an ack for each, and
// a core subscription receives what is published after the restart.
func TestConsumeRestart(t *testing.T) {
	srv, conn, ctx, _ := jsSetup(t, "RS")
	js := conn.JetStream()
	durable(t, ctx, js, "RS", "rs")
	const n = 100
	publishN(t, ctx, js, "rs.x", n)

	var log logs
	c := newConsumer(t, ctx, conn, broker.ConsumerOptions{Sources: []string{"RS"}, Durable: "rs", Prefetch: 10, Logf: log.logf})
	core := newConsumer(t, ctx, conn, broker.ConsumerOptions{Sources: []string{"after.restart"}, Core: true, Logf: log.logf})

	acked := map[uint64]bool{}
	restarted := false
	deadline, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for len(acked) < n {
		d, err := c.Next(deadline)
		if err != nil {
			t.Fatalf("Next after %d acked: %v\nlogs:\n%s", len(acked), err, &log)
		}
		if err := d.Ack(deadline); err == nil {
			acked[d.NATS.StreamSeq] = true
		} else if !errors.Is(err, broker.ErrStaleDelivery) && !strings.Contains(err.Error(), "no confirmation") {
			t.Fatalf("Ack: %v", err)
		}
		if len(acked) == 30 && !restarted {
			restarted = true
			if err := srv.Restart(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for seq := uint64(1); seq <= n; seq++ {
		if !acked[seq] {
			t.Errorf("seq %d never acked", seq)
		}
	}
	if !log.has("lost") || !log.has("restored") {
		t.Errorf("the restart was not reported; logs:\n%s", &log)
	}

	pub, err := nats.Connect(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	// The core consumer subscribes again once it has reconnected; until
	// then what is published is lost, so publish until one arrives.
	got := make(chan *broker.Delivery, 1)
	go func() {
		if d, err := core.Next(deadline); err == nil {
			got <- d
		}
	}()
	for {
		pub.Publish("after.restart", []byte("hello"))
		select {
		case d := <-got:
			if string(d.Value) != "hello" {
				t.Errorf("core delivery %q", d.Value)
			}
			return
		case <-time.After(100 * time.Millisecond):
		case <-deadline.Done():
			t.Fatal("the core consumer received nothing after the restart")
		}
	}
}

// TestConsumeEphemeralReplaced deletes the ephemeral consumer under a
// running consumer, as a server that loses it would: a replacement starts
// at the oldest unacked message, so every message is acked at least once,
// and the deliveries of the lost consumer are stale, as Stale says.
func TestConsumeEphemeralReplaced(t *testing.T) {
	_, conn, ctx, _ := jsSetup(t, "EPH")
	js := conn.JetStream()
	const n = 10
	publishN(t, ctx, js, "eph.x", n)
	var log logs
	c := newConsumer(t, ctx, conn, broker.ConsumerOptions{Sources: []string{"EPH"}, Logf: log.logf})

	ds := []*broker.Delivery{next(t, ctx, c), next(t, ctx, c), next(t, ctx, c)}
	acked := map[uint64]bool{}
	for _, d := range []*broker.Delivery{ds[0], ds[2]} {
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
		acked[d.NATS.StreamSeq] = true
	}
	if broker.IsStale(ds[1]) {
		t.Fatal("a delivery of the running consumer is stale")
	}
	lost := ds[0].NATS.Consumer
	if err := js.DeleteConsumer(ctx, "EPH", lost); err != nil {
		t.Fatal(err)
	}

	replacedSeq2 := false
	deadline, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for len(acked) < n {
		d, err := c.Next(deadline)
		if err != nil {
			t.Fatalf("Next with %d acked: %v\nlogs:\n%s", len(acked), err, &log)
		}
		if d.NATS.Consumer != lost && d.NATS.StreamSeq == 2 {
			replacedSeq2 = true
		}
		switch err := d.Ack(deadline); {
		case err == nil:
			acked[d.NATS.StreamSeq] = true
		case !errors.Is(err, broker.ErrStaleDelivery):
			t.Fatalf("Ack: %v", err)
		}
	}
	if !replacedSeq2 {
		t.Error("the unacked seq 2 did not come again from the replacement")
	}
	if !broker.IsStale(ds[1]) {
		t.Error("the lost consumer's unacked delivery is not stale")
	}
	if err := ds[1].Ack(ctx); !errors.Is(err, broker.ErrStaleDelivery) {
		t.Errorf("Ack of the lost consumer's delivery = %v, want ErrStaleDelivery", err)
	}
	if !log.has("replaced it from stream sequence 2") {
		t.Errorf("the replacement was not reported; logs:\n%s", &log)
	}
}

func TestConsumeSourceDeleted(t *testing.T) {
	tests := []struct {
		name    string
		durable string
		remove  func(ctx context.Context, js jetstream.JetStream) error
		text    string
	}{
		{"stream", "", func(ctx context.Context, js jetstream.JetStream) error { return js.DeleteStream(ctx, "GONE") }, `stream "GONE" on nats at 127.0.0.1:`},
		{"durable", "keep", func(ctx context.Context, js jetstream.JetStream) error { return js.DeleteConsumer(ctx, "GONE", "keep") }, `durable consumer "keep" of stream "GONE"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, conn, ctx, _ := jsSetup(t, "GONE")
			js := conn.JetStream()
			publishN(t, ctx, js, "gone.x", 1)
			c := newConsumer(t, ctx, conn, broker.ConsumerOptions{Sources: []string{"GONE"}, Durable: tt.durable})
			next(t, ctx, c)
			if err := tt.remove(ctx, js); err != nil {
				t.Fatal(err)
			}
			wait, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_, err := c.Next(wait)
			if !mqerr.Is(err, mqerr.NotFound) || !strings.Contains(err.Error(), tt.text) || !strings.Contains(err.Error(), "was deleted") {
				t.Fatalf("Next = %v (kind %v), want NotFound naming %s", err, mqerr.KindOf(err), tt.text)
			}
			if _, again := c.Next(ctx); again != err {
				t.Errorf("second Next = %v, want the same final error", again)
			}
		})
	}
}

// benchStream stores n messages of 100 bytes in a memory stream.
func benchStream(b *testing.B, n int) *Conn {
	b.Helper()
	srv := testenv.NATS(b, sandbox.NATSOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := driver{}.Open(ctx, broker.Target{URL: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	conn := c.(*Conn)
	b.Cleanup(func() { conn.Close() })
	js := conn.JetStream()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "CB", Subjects: []string{"cb"}, Storage: jetstream.MemoryStorage}); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 100)
	for range n {
		if _, err := js.PublishAsync("cb", payload); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		b.Fatal("publishing the benchmark messages took too long")
	}
	return conn
}

// BenchmarkConsume reads b.N messages through the consumer, peeking and
// with a confirmed ack per message; BenchmarkRawConsume is the same read
// as a bare nats.go Consume loop, the baseline it is compared with.
func BenchmarkConsume(b *testing.B) {
	for _, peek := range []bool{true, false} {
		b.Run(fmt.Sprintf("peek=%v", peek), func(b *testing.B) {
			conn := benchStream(b, b.N)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			c, err := conn.NewConsumer(ctx, broker.ConsumerOptions{Sources: []string{"CB"}, Peek: peek, Prefetch: 500, UntilEnd: true})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			for range b.N {
				d, err := c.Next(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if err := d.Ack(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

func BenchmarkRawConsume(b *testing.B) {
	for _, peek := range []bool{true, false} {
		b.Run(fmt.Sprintf("peek=%v", peek), func(b *testing.B) {
			conn := benchStream(b, b.N)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			cfg := jetstream.ConsumerConfig{AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 500}
			if peek {
				cfg.AckPolicy, cfg.MaxAckPending = jetstream.AckNonePolicy, 0
			}
			cons, err := conn.JetStream().CreateConsumer(ctx, "CB", cfg)
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan struct{})
			n := 0
			cc, err := cons.Consume(func(m jetstream.Msg) {
				if !peek {
					if err := m.DoubleAck(ctx); err != nil {
						b.Error(err)
					}
				}
				if n++; n == b.N {
					close(done)
				}
			}, jetstream.PullMaxMessages(500))
			if err != nil {
				b.Fatal(err)
			}
			<-done
			b.StopTimer()
			cc.Stop()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// TestConsumeRecoversLostPull: when the server holds no pull request of
// the consumer while nats.go believes one is out (its Consume can end up
// so, see jsConsumer), the consumer pulls again after two missed idle
// heartbeats of pullHeartbeat, not of nats.go's default (10 s). The state
// is made by a consumer that allows one waiting request, held by another
// client for 6 s: the server drops the consumer's own requests without a
// word (they ask for heartbeats). Its next request must come before the
// other one expires (ordered on one connection), then the message.
func TestConsumeRecoversLostPull(t *testing.T) {
	srv, conn, ctx, s := jsSetup(t, "STALL")
	cons, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "one", AckPolicy: jetstream.AckExplicitPolicy, MaxWaiting: 1})
	if err != nil {
		t.Fatal(err)
	}
	other, err := nats.Connect(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	// Both subscriptions feed one channel from the connection's reader, so
	// it holds the events in the order the server sent them.
	events := make(chan *nats.Msg, 64)
	const pullSubj = "$JS.API.CONSUMER.MSG.NEXT.STALL.one"
	blocker := nats.NewInbox()
	for _, subj := range []string{pullSubj, blocker} {
		if _, err := other.ChanSubscribe(subj, events); err != nil {
			t.Fatal(err)
		}
	}
	if err := other.PublishRequest(pullSubj, blocker, []byte(`{"batch":1,"expires":6000000000}`)); err != nil {
		t.Fatal(err)
	}
	for {
		ci, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ci.NumWaiting == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}

	c := newConsumer(t, ctx, conn, broker.ConsumerOptions{Sources: []string{"STALL"}, Durable: "one", Prefetch: 10})
	var ours string
	pulls := 0
	for pulls < 2 {
		var m *nats.Msg
		select {
		case m = <-events:
		case <-time.After(20 * time.Second):
			t.Fatalf("%d pull requests of the consumer and no expiry of the other one", pulls)
		}
		switch {
		case m.Subject == blocker:
			t.Fatalf("the other request expired (%s) before the consumer pulled again: %d of its requests seen", m.Header.Get("Status"), pulls)
		case m.Reply == blocker:
		case ours == "" || m.Reply == ours:
			ours = m.Reply
			pulls++
		}
	}
	// Once the other request is gone, a pull of the consumer gets through.
	for m := (*nats.Msg)(nil); m == nil || m.Subject != blocker; {
		select {
		case m = <-events:
		case <-time.After(20 * time.Second):
			t.Fatal("the other request never expired")
		}
	}
	publishN(t, ctx, conn.JetStream(), "stall.a", 1)
	if d := next(t, ctx, c); d.NATS.StreamSeq != 1 {
		t.Fatalf("got seq %d, want 1", d.NATS.StreamSeq)
	}
}
