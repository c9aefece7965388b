package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
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

// wantErr fails t unless err is one line of kind containing text.
func wantErr(t *testing.T, err error, kind mqerr.Kind, text string) {
	t.Helper()
	if err == nil || mqerr.KindOf(err) != kind || !strings.Contains(err.Error(), text) || strings.Contains(err.Error(), "\n") {
		t.Errorf("err = %v (kind %v), want kind %v containing %q", err, mqerr.KindOf(err), kind, text)
	}
}

// streamMsgs is how many messages stream holds now.
func streamMsgs(t *testing.T, ctx context.Context, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	return s.CachedInfo().State.Msgs
}

// waitMsgs waits until stream holds n messages.
func waitMsgs(t *testing.T, ctx context.Context, js jetstream.JetStream, stream string, n uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for streamMsgs(t, ctx, js, stream) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d messages, want %d", stream, streamMsgs(t, ctx, js, stream), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAdvisoryWhy(t *testing.T) {
	const pre = "$JS.EVENT.ADVISORY.CONSUMER."
	tests := []struct {
		subjects []string
		want     string
	}{
		{[]string{pre + "MAX_DELIVERIES.ORDERS.>", pre + "MSG_TERMINATED.ORDERS.>"}, "MAX_DELIVERIES/MSG_TERMINATED advisories of ORDERS"},
		{[]string{pre + "MAX_DELIVERIES.ORDERS.*"}, "MAX_DELIVERIES advisories of ORDERS"},
		{[]string{pre + "MSG_TERMINATED.ORDERS.worker"}, "MSG_TERMINATED advisories of ORDERS"},
		{[]string{pre + "*.PAY.*"}, "MAX_DELIVERIES/MSG_TERMINATED advisories of PAY"},
		{[]string{pre + "MSG_TERMINATED.>"}, "MSG_TERMINATED advisories of all streams"},
		{[]string{pre + "MAX_DELIVERIES.*.*"}, "MAX_DELIVERIES advisories of all streams"},
		{[]string{"$JS.EVENT.>"}, "MAX_DELIVERIES/MSG_TERMINATED advisories of all streams"},
		{[]string{"$JS.*.ADVISORY.>"}, "MAX_DELIVERIES/MSG_TERMINATED advisories of all streams"},
		{[]string{pre + "MAX_DELIVERIES.PAY.>", pre + "MAX_DELIVERIES.ORDERS.>", pre + "MSG_TERMINATED.>"},
			"MAX_DELIVERIES advisories of ORDERS, PAY; MSG_TERMINATED advisories of all streams"},
		{[]string{pre + "CREATED.>", pre + "MAX_DELIVERIES.ORDERS", pre + "MAX_DELIVERIES.ORDERS.a.b"}, ""},
		{[]string{"orders.>", "$JS.EVENT.ADVISORY.STREAM.>"}, ""},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := advisoryWhy(tt.subjects); got != tt.want {
			t.Errorf("advisoryWhy(%q) = %q, want %q", tt.subjects, got, tt.want)
		}
	}
}

func TestDeadLetterDestinations(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn, ctx := natsConn(t, srv, broker.Target{})
	js := conn.JetStream()
	const pre = "$JS.EVENT.ADVISORY.CONSUMER."
	for _, cfg := range []jetstream.StreamConfig{
		{Name: "ORDERS", Subjects: []string{"orders.>"}},
		{Name: "DEAD", Subjects: []string{pre + "MAX_DELIVERIES.ORDERS.>", pre + "MSG_TERMINATED.ORDERS.>"}},
		{Name: "PAYDEAD", Subjects: []string{pre + "MSG_TERMINATED.PAY.*"}},
		{Name: "CREATED", Subjects: []string{pre + "CREATED.>"}},
		{Name: "orders-dlq", Subjects: []string{"dlq.orders"}},
		{Name: "PAY_DLQ", Subjects: []string{"dlq.pay"}},
	} {
		createStream(t, ctx, js, cfg)
	}
	publishN(t, ctx, js, "dlq.orders", 2)

	type row struct {
		name       string
		messages   int64
		why        string
		advisories bool
	}
	deadRows := []row{
		{"DEAD", 0, "MAX_DELIVERIES/MSG_TERMINATED advisories of ORDERS", true},
		{"PAYDEAD", 0, "MSG_TERMINATED advisories of PAY", true},
	}
	tests := []struct {
		name     string
		patterns []string
		want     []row
	}{
		{"default patterns", nil, slices.Concat(deadRows, []row{{"PAY_DLQ", 0, "name matches *_DLQ", false}, {"orders-dlq", 2, "name matches *-dlq", false}})},
		{"own pattern", []string{"ORD*"}, []row{deadRows[0], {"ORDERS", 0, "name matches ORD*", false}, deadRows[1]}},
		{"no patterns", []string{}, deadRows},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dests, err := conn.DeadLetterDestinations(ctx, broker.DeadLetterQuery{Patterns: tt.patterns})
			if err != nil {
				t.Fatal(err)
			}
			var got []row
			for _, d := range dests {
				if d.Broker != "nats" || d.Type != "stream" {
					t.Errorf("%s: broker %q type %q, want nats stream", d.Name, d.Broker, d.Type)
				}
				if (d.Messages > 0) == d.Oldest.IsZero() {
					t.Errorf("%s: %d messages, oldest %v", d.Name, d.Messages, d.Oldest)
				}
				got = append(got, row{d.Name, d.Messages, d.Why, d.Advisories})
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}

	_, err := conn.DeadLetterDestinations(ctx, broker.DeadLetterQuery{Patterns: []string{"["}})
	wantErr(t, err, mqerr.Usage, `dead-letter pattern "["`)
}

// A terminated message leaves an advisory in the advisory stream, which
// is listed with its depth and age, and the advisory's stream_seq leads
// back to the message, identical to what a consumer reads.
func TestDeadLetterAdvisoryRoundTrip(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn, ctx := natsConn(t, srv, broker.Target{})
	js := conn.JetStream()
	createStream(t, ctx, js, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	createStream(t, ctx, js, jetstream.StreamConfig{Name: "DEAD", Subjects: []string{
		"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.ORDERS.>", "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.ORDERS.>"}})
	start := time.Now()
	publishN(t, ctx, js, "orders.eu", 1)
	msg := nats.NewMsg("orders.eu.new")
	msg.Data = []byte{0, 1, 0xff}
	msg.Header["trace"] = []string{"first", "second"}
	msg.Header.Set("Content-Type", "application/octet-stream")
	msg.Header.Set(jetstream.MsgIDHeader, "order-7")
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}

	c := newConsumer(t, ctx, conn, broker.ConsumerOptions{Sources: []string{"ORDERS"}})
	if err := next(t, ctx, c).Ack(ctx); err != nil {
		t.Fatal(err)
	}
	termed := next(t, ctx, c)
	if err := termed.Term(ctx); err != nil {
		t.Fatal(err)
	}
	waitMsgs(t, ctx, js, "DEAD", 1)

	dests, err := conn.DeadLetterDestinations(ctx, broker.DeadLetterQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(dests) != 1 || dests[0].Name != "DEAD" || dests[0].Messages != 1 || !dests[0].Advisories {
		t.Fatalf("dead letters = %+v, want DEAD with 1 advisory", dests)
	}
	if o := dests[0].Oldest; o.Before(start.Add(-time.Second)) || o.After(time.Now().Add(time.Second)) {
		t.Errorf("oldest = %v, want between %v and now", o, start)
	}

	adv, err := conn.GetMessage(ctx, "DEAD", 1)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Stream    string `json:"stream"`
		StreamSeq uint64 `json:"stream_seq"`
	}
	if err := json.Unmarshal(adv.Value, &body); err != nil {
		t.Fatalf("advisory %q: %v", adv.Value, err)
	}
	if body.Stream != "ORDERS" || body.StreamSeq != 2 || !strings.HasPrefix(adv.NATS.Subject, "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.ORDERS.") {
		t.Fatalf("advisory %s: %s", adv.NATS.Subject, adv.Value)
	}
	got, err := conn.GetMessage(ctx, body.Stream, body.StreamSeq)
	if err != nil {
		t.Fatal(err)
	}
	want := termed.Message
	// The consumer's metadata is not the stored message's.
	want.NATS.Consumer, want.NATS.ConsumerSeq, want.NATS.NumDelivered = "", 0, 0
	if !equalMessages(got, &want) {
		t.Errorf("GetMessage = %+v\nconsumer read %+v", got, &want)
	}
	if got.NATS.MsgID != "order-7" || got.Destination != "orders.eu.new" || got.NATS.StreamSeq != 2 || got.NATS.Stream != "ORDERS" {
		t.Errorf("GetMessage = %+v", got)
	}
}

func equalMessages(a, b *broker.Message) bool {
	return string(a.Value) == string(b.Value) && a.Timestamp.Equal(b.Timestamp) && a.Destination == b.Destination &&
		a.NATS == b.NATS && slices.EqualFunc(a.Headers, b.Headers, func(x, y broker.Header) bool {
		return x.Key == y.Key && string(x.Value) == string(y.Value)
	})
}

func TestGetMessage(t *testing.T) {
	_, conn, ctx, s := jsSetup(t, "GET")
	js := conn.JetStream()
	publishN(t, ctx, js, "get.a", 3)
	if err := s.DeleteMsg(ctx, 2); err != nil {
		t.Fatal(err)
	}
	createStream(t, ctx, js, jetstream.StreamConfig{Name: "LIMITED", Subjects: []string{"limited"}, MaxMsgs: 1})
	publishN(t, ctx, js, "limited", 2)

	tests := []struct {
		stream string
		seq    uint64
		value  string
		kind   mqerr.Kind
		text   string
	}{
		{"GET", 1, "m0", 0, ""},
		{"GET", 3, "m2", 0, ""},
		{"GET", 2, "", mqerr.NotFound, "GET seq 2 is gone: removed by the stream's limits or deleted"},
		{"GET", 4, "", mqerr.NotFound, "GET seq 4 is gone"},
		{"LIMITED", 1, "", mqerr.NotFound, "LIMITED seq 1 is gone"},
		{"LIMITED", 2, "m1", 0, ""},
		{"NOPE", 1, "", mqerr.NotFound, `stream "NOPE" not found on nats at 127.0.0.1:`},
		{"a.b", 1, "", mqerr.Usage, `"a.b" is not a valid stream name`},
		{"GET", 0, "", mqerr.Usage, "stream sequences start at 1"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.stream, tt.seq), func(t *testing.T) {
			m, err := conn.GetMessage(ctx, tt.stream, tt.seq)
			if tt.text != "" {
				wantErr(t, err, tt.kind, tt.text)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(m.Value) != tt.value || m.NATS.StreamSeq != tt.seq || m.NATS.Stream != tt.stream || m.Timestamp.IsZero() {
				t.Errorf("GetMessage = %+v, want value %q at seq %d", m, tt.value, tt.seq)
			}
		})
	}
}

func TestPurge(t *testing.T) {
	_, conn, ctx, s := jsSetup(t, "PURGE")
	js := conn.JetStream()
	publishN(t, ctx, js, "purge.x", 10)
	createStream(t, ctx, js, jetstream.StreamConfig{Name: "KEPT", Subjects: []string{"kept"}, DenyPurge: true})
	publishN(t, ctx, js, "kept", 1)

	// Each step runs on what the steps before it left.
	steps := []struct {
		name         string
		publish      int
		before       map[int32]int64
		removed      int64
		first, last  uint64
		messagesLeft uint64
	}{
		{"before a sequence", 0, map[int32]int64{0: 4}, 3, 4, 10, 7},
		{"before the first", 0, map[int32]int64{0: 2}, 0, 4, 10, 7},
		// Had it moved the sequence to 100, the next step would see it.
		{"beyond the end stops at the end", 0, map[int32]int64{0: 100}, 7, 11, 10, 0},
		{"empty", 0, nil, 0, 11, 10, 0},
		{"everything", 5, nil, 5, 16, 15, 0},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			publishN(t, ctx, js, "purge.x", st.publish)
			n, err := conn.Purge(ctx, broker.PurgeRequest{Dest: "PURGE", Before: st.before})
			if err != nil {
				t.Fatal(err)
			}
			info, err := s.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got := info.State
			if n != st.removed || got.FirstSeq != st.first || got.LastSeq != st.last || got.Msgs != st.messagesLeft {
				t.Errorf("removed %d, state first %d last %d msgs %d; want removed %d, first %d last %d msgs %d",
					n, got.FirstSeq, got.LastSeq, got.Msgs, st.removed, st.first, st.last, st.messagesLeft)
			}
		})
	}

	errs := []struct {
		name string
		r    broker.PurgeRequest
		kind mqerr.Kind
		text string
	}{
		{"missing stream", broker.PurgeRequest{Dest: "NOPE"}, mqerr.NotFound, `stream "NOPE" not found on nats at 127.0.0.1:`},
		{"invalid name", broker.PurgeRequest{Dest: "a.b"}, mqerr.Usage, "not a valid stream name"},
		{"partition key", broker.PurgeRequest{Dest: "PURGE", Before: map[int32]int64{1: 5}}, mqerr.Usage, "one position, the stream sequence (key 0)"},
		{"no position", broker.PurgeRequest{Dest: "PURGE", Before: map[int32]int64{}}, mqerr.Usage, "one position"},
		{"purge denied", broker.PurgeRequest{Dest: "KEPT"}, mqerr.Failure, `refused to purge stream "KEPT": `},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := conn.Purge(ctx, tt.r)
			wantErr(t, err, tt.kind, tt.text)
		})
	}
}

// AckDeletes: the consumer takes no acks; Ack deletes the message from
// the stream, confirmed, and an already deleted one is no error; the
// other verbs leave it. Both stores answer a repeated delete differently.
func TestConsumeAckDeletes(t *testing.T) {
	for _, storage := range []jetstream.StorageType{jetstream.MemoryStorage, jetstream.FileStorage} {
		t.Run(storage.String(), func(t *testing.T) {
			srv := testenv.NATS(t, sandbox.NATSOptions{})
			conn, ctx := natsConn(t, srv, broker.Target{})
			js := conn.JetStream()
			s := createStream(t, ctx, js, jetstream.StreamConfig{Name: "DLQ", Subjects: []string{"dlq.>"}, Storage: storage})
			publishN(t, ctx, js, "dlq.x", 4)

			c, err := conn.NewConsumer(ctx, broker.ConsumerOptions{Sources: []string{"DLQ"}, AckDeletes: true, UntilEnd: true})
			if err != nil {
				t.Fatal(err)
			}
			var ds []*broker.Delivery
			for range 4 {
				ds = append(ds, next(t, ctx, c))
			}
			if _, err := c.Next(ctx); err != io.EOF {
				t.Fatalf("Next after the end = %v, want EOF", err)
			}
			cons, err := s.Consumer(ctx, ds[0].NATS.Consumer)
			if err != nil {
				t.Fatal(err)
			}
			if p := cons.CachedInfo().Config.AckPolicy; p != jetstream.AckNonePolicy {
				t.Errorf("ack policy %v, want none", p)
			}

			if err := ds[0].Ack(ctx); err != nil {
				t.Fatalf("Ack: %v", err)
			}
			if _, err := conn.GetMessage(ctx, "DLQ", 1); !mqerr.Is(err, mqerr.NotFound) {
				t.Errorf("seq 1 after Ack: %v, want it gone", err)
			}
			for verb, settle := range map[string]func() error{
				"nack":        func() error { return ds[1].Nack(ctx, 0) },
				"term":        func() error { return ds[2].Term(ctx) },
				"in-progress": func() error { return ds[3].InProgress(ctx) },
			} {
				if err := settle(); err != nil {
					t.Errorf("%s: %v", verb, err)
				}
			}
			if err := s.DeleteMsg(ctx, 4); err != nil {
				t.Fatal(err)
			}
			for _, d := range []*broker.Delivery{ds[3], ds[0]} {
				if err := d.Ack(ctx); err != nil {
					t.Errorf("Ack of seq %d, deleted already: %v", d.NATS.StreamSeq, err)
				}
			}
			if n := streamMsgs(t, ctx, js, "DLQ"); n != 2 {
				t.Errorf("DLQ holds %d messages, want 2 (nacked and termed)", n)
			}

			c.Close()
			if n := consumerCount(t, ctx, s); n != 0 {
				t.Errorf("%d consumers left after Close, want 0", n)
			}
			if err := ds[1].Ack(ctx); !errors.Is(err, broker.ErrStaleDelivery) {
				t.Errorf("Ack after Close = %v, want a stale delivery", err)
			}
			// Delivered without acks, the rest are there for the next run.
			again := newConsumer(t, ctx, conn, broker.ConsumerOptions{Sources: []string{"DLQ"}, AckDeletes: true, UntilEnd: true})
			if got := untilEOF(t, ctx, again); !slices.Equal(got, []uint64{2, 3}) {
				t.Errorf("second run read %v, want [2 3]", got)
			}
			if n := streamMsgs(t, ctx, js, "DLQ"); n != 0 {
				t.Errorf("DLQ holds %d messages after acking all, want 0", n)
			}
		})
	}
}

func TestConsumeAckDeletesOptions(t *testing.T) {
	_, conn, ctx, _ := jsSetup(t, "OPTS")
	tests := []struct {
		name string
		o    broker.ConsumerOptions
		text string
	}{
		{"core", broker.ConsumerOptions{Sources: []string{"opts.x"}, Core: true, AckDeletes: true}, "core NATS stores none"},
		{"durable", broker.ConsumerOptions{Sources: []string{"OPTS"}, Durable: "d", AckDeletes: true}, "ephemeral consumer, not durable consumer d"},
		{"peek", broker.ConsumerOptions{Sources: []string{"OPTS"}, Peek: true, AckDeletes: true}, "exclude each other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := conn.NewConsumer(ctx, tt.o)
			if err == nil {
				c.Close()
			}
			wantErr(t, err, mqerr.Usage, tt.text)
		})
	}
}

// The subjects PerMessageDestination remembers are bounded: past the
// bound it starts over and looks a subject up again.
func TestProducePerMessageDestinationForgets(t *testing.T) {
	defer func(n int) { maxKnownSubjects = n }(maxKnownSubjects)
	maxKnownSubjects = 2
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn, ctx := natsConn(t, srv, broker.Target{})
	createStream(t, ctx, conn.JetStream(), jetstream.StreamConfig{Name: "A", Subjects: []string{"a.>"}})
	var lookups atomic.Int32
	sub, err := conn.NATS().Subscribe("$JS.API.STREAM.NAMES", func(*nats.Msg) { lookups.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	p := newProducer(t, ctx, conn, broker.ProducerOptions{PerMessageDestination: true})
	subjects := []string{"a.1", "a.2", "a.2", "a.3", "a.1"}
	out := newOutcomes(len(subjects))
	for i, s := range subjects {
		p.Publish(ctx, &broker.Message{Value: []byte(s), NATS: broker.NATSMeta{Subject: s}}, out.done(i))
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	out.exactlyOnce(t)
	for i, err := range out.errs {
		if err != nil {
			t.Errorf("message %d to %s: %v", i, subjects[i], err)
		}
	}
	// a.1, a.2, then a.3 after forgetting both, then a.1 again.
	if n := settledCount(t, conn, &lookups, 4); n != 4 {
		t.Errorf("%d stream look-ups, want 4", n)
	}
}

// settledCount reads a count kept by a subscription's callback, which may
// still be running for the last request when that request's reply came
// back: it waits up to 5 s for want, then flushes and waits a little for
// any more, so that too many is seen as well as too few.
func settledCount(t *testing.T, conn *Conn, n *atomic.Int32, want int32) int32 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for n.Load() < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := conn.NATS().Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	return n.Load()
}

// PerMessageDestination: each message goes to its own subject, the
// stream of each subject is looked up once, and a message that cannot go
// anywhere fails alone.
func TestProducePerMessageDestination(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn, ctx := natsConn(t, srv, broker.Target{})
	js := conn.JetStream()
	sa := createStream(t, ctx, js, jetstream.StreamConfig{Name: "A", Subjects: []string{"a.>"}})
	sb := createStream(t, ctx, js, jetstream.StreamConfig{Name: "B", Subjects: []string{"b.>"}})
	var lookups atomic.Int32
	sub, err := conn.NATS().Subscribe("$JS.API.STREAM.NAMES", func(*nats.Msg) { lookups.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	p := newProducer(t, ctx, conn, broker.ProducerOptions{PerMessageDestination: true, InFlight: 2})
	type sent struct {
		subject, value, id string
		receipt            broker.Receipt
		kind               mqerr.Kind
		text               string
	}
	msgs := []sent{
		{"a.x", "a0", "m0", broker.Receipt{Stream: "A", Seq: 1}, 0, ""},
		{"b.y", "b0", "", broker.Receipt{Stream: "B", Seq: 1}, 0, ""},
		{"c.z", "c0", "", broker.Receipt{}, mqerr.NotFound, `no JetStream stream captures subject "c.z"`},
		{"", "none", "", broker.Receipt{}, mqerr.Usage, "names no subject"},
		{"a.x", "a1", "", broker.Receipt{Stream: "A", Seq: 2}, 0, ""},
		{"a.x", "again", "m0", broker.Receipt{Stream: "A", Seq: 1, Duplicate: true}, 0, ""},
		{"a.*", "wild", "", broker.Receipt{}, mqerr.Usage, "has a wildcard"},
		{"b.y", "b1", "", broker.Receipt{Stream: "B", Seq: 2}, 0, ""},
		{"c.z", "c1", "", broker.Receipt{}, mqerr.NotFound, `no JetStream stream captures subject "c.z"`},
		{"a.other", "a2", "", broker.Receipt{Stream: "A", Seq: 3}, 0, ""},
	}
	out := newOutcomes(len(msgs))
	for i, m := range msgs {
		p.Publish(ctx, &broker.Message{Value: []byte(m.value), NATS: broker.NATSMeta{Subject: m.subject, MsgID: m.id}}, out.done(i))
		// In send order, so that the sequences are known.
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	out.exactlyOnce(t)
	for i, m := range msgs {
		if m.text != "" {
			wantErr(t, out.errs[i], m.kind, m.text)
			if strings.Contains(fmt.Sprint(out.errs[i]), "--core") {
				t.Errorf("message %d: %v suggests --core", i, out.errs[i])
			}
			continue
		}
		if out.errs[i] != nil || out.receipts[i] != m.receipt {
			t.Errorf("message %d to %s: %+v, %v; want %+v", i, m.subject, out.receipts[i], out.errs[i], m.receipt)
		}
	}
	// a.x, b.y, c.z and a.other: once each, not once per message.
	if n := settledCount(t, conn, &lookups, 4); n != 4 {
		t.Errorf("%d stream look-ups, want 4", n)
	}
	for s, want := range map[jetstream.Stream][]string{sa: {"a.x a0", "a.x a1", "a.other a2"}, sb: {"b.y b0", "b.y b1"}} {
		var got []string
		for _, m := range storedMsgs(t, ctx, s) {
			got = append(got, m.Subject+" "+string(m.Data))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s holds %v, want %v", s.CachedInfo().Config.Name, got, want)
		}
	}

	_, err = conn.NewProducer(ctx, broker.ProducerOptions{PerMessageDestination: true, Core: true})
	wantErr(t, err, mqerr.Usage, "needs JetStream confirms")
}

// A subject the user may not publish to fails its messages at once with
// an auth error; the others are confirmed.
func TestProducePerMessageDenied(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{Configure: func(o *server.Options) {
		o.Users = []*server.User{
			{Username: "admin", Password: "admin-pass"},
			{Username: "limited", Password: "limited-pass", Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: []string{"$JS.API.>", "a.>"}},
				Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
			}},
		}
	}})
	admin, ctx := natsConn(t, srv, broker.Target{Username: "admin", Password: "admin-pass"})
	createStream(t, ctx, admin.JetStream(), jetstream.StreamConfig{Name: "A", Subjects: []string{"a.>"}})
	createStream(t, ctx, admin.JetStream(), jetstream.StreamConfig{Name: "B", Subjects: []string{"b.>"}})
	limited, _ := natsConn(t, srv, broker.Target{Username: "limited", Password: "limited-pass"})

	p := newProducer(t, ctx, limited, broker.ProducerOptions{PerMessageDestination: true})
	subjects := []string{"a.x", "b.y", "a.x", "b.y"}
	out := newOutcomes(len(subjects))
	start := time.Now()
	for i, s := range subjects {
		p.Publish(ctx, &broker.Message{Value: []byte("v"), NATS: broker.NATSMeta{Subject: s}}, out.done(i))
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	out.exactlyOnce(t)
	for i, s := range subjects {
		if s == "b.y" {
			wantErr(t, out.errs[i], mqerr.Auth, `denied this user publishing to "b.y"`)
		} else if out.errs[i] != nil || out.receipts[i].Stream != "A" {
			t.Errorf("message %d to %s: %+v, %v", i, s, out.receipts[i], out.errs[i])
		}
	}
	if elapsed := time.Since(start); elapsed > testenv.Deadline(5*time.Second) {
		t.Errorf("denial took %v to report", elapsed)
	}
}
