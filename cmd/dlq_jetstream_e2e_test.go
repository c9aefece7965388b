package cmd_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// jsEnv is an embedded nats-server with a client of its own, as an
// application other than mqctl would use it.
type jsEnv struct {
	t   *testing.T
	url string
	js  jetstream.JetStream
}

func newJSEnv(t *testing.T) *jsEnv {
	t.Helper()
	srv, js := natsJetStream(t)
	return &jsEnv{t: t, url: srv.URL, js: js}
}

func (e *jsEnv) stream(cfg jetstream.StreamConfig) jetstream.Stream {
	e.t.Helper()
	cfg.Storage = jetstream.FileStorage
	s, err := e.js.CreateStream(context.Background(), cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// publish sends value to subject with headers given as name, value pairs;
// a Nats-Msg-Id among them is the message's id, as nats.go sends it.
func (e *jsEnv) publish(subject, value string, headers ...string) {
	e.t.Helper()
	m := nats.NewMsg(subject)
	m.Data = []byte(value)
	for i := 0; i < len(headers); i += 2 {
		m.Header.Add(headers[i], headers[i+1])
	}
	if _, err := e.js.PublishMsg(context.Background(), m); err != nil {
		e.t.Fatalf("publish %q: %v", value, err)
	}
}

// all returns the messages stream holds now, in order.
func (e *jsEnv) all(stream string) []*jetstream.RawStreamMsg {
	e.t.Helper()
	ctx := context.Background()
	s, err := e.js.Stream(ctx, stream)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// copies returns the messages of stream with value that carry
// mq-replay-count n ("" for none).
func (e *jsEnv) copies(stream, value, n string) []*jetstream.RawStreamMsg {
	e.t.Helper()
	var out []*jetstream.RawStreamMsg
	for _, m := range e.all(stream) {
		if string(m.Data) == value && m.Header.Get("mq-replay-count") == n && m.Header.Get("mq-msg-id")+m.Header.Get("Nats-Msg-Id") != "" {
			out = append(out, m)
		}
	}
	return out
}

func (e *jsEnv) depth(stream string) uint64 { return e.state(stream).Msgs }

func (e *jsEnv) lastSeq(stream string) uint64 { return e.state(stream).LastSeq }

func (e *jsEnv) state(stream string) jetstream.StreamState {
	e.t.Helper()
	s, err := e.js.Stream(context.Background(), stream)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return info.State
}

// waitDepth waits until stream holds want messages.
func (e *jsEnv) waitDepth(stream string, want uint64) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.depth(stream) != want {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s holds %d messages, want %d", stream, e.depth(stream), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fail makes consumer durable of ORDERS, reading from stream sequence
// from on, give up on the messages whose values are in term (+TERM:
// MSG_TERMINATED) and nak (until MaxDeliver 2 gives up: MAX_DELIVERIES),
// and ack the rest; it returns once every one of them was delivered as
// often as it will be.
func (e *jsEnv) fail(durable string, from uint64, term, nak []string) {
	e.t.Helper()
	ctx := context.Background()
	c, err := e.js.CreateOrUpdateConsumer(ctx, "ORDERS", jetstream.ConsumerConfig{Durable: durable,
		AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: 2, FilterSubject: "orders.created",
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: max(from, 1)})
	if err != nil {
		e.t.Fatal(err)
	}
	pending := map[string]int{}
	for _, v := range term {
		pending[v] = 1
	}
	for _, v := range nak {
		pending[v] = 2
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(pending) > 0 {
		if time.Now().After(deadline) {
			e.t.Fatalf("consumer %s still waits for %v", durable, pending)
		}
		batch, err := c.Fetch(10, jetstream.FetchMaxWait(200*time.Millisecond))
		if err != nil {
			e.t.Fatal(err)
		}
		for m := range batch.Messages() {
			v := string(m.Data())
			switch {
			case contains(term, v):
				m.TermWithReason("bad order")
			case contains(nak, v):
				m.Nak()
			default:
				m.Ack()
			}
			if pending[v]--; pending[v] <= 0 {
				delete(pending, v)
			}
		}
	}
	if len(nak) > 0 {
		// The server gives up on a message (MAX_DELIVERIES) when it would
		// deliver it once more: to a pull request.
		if _, err := c.Fetch(1, jetstream.FetchMaxWait(100*time.Millisecond)); err != nil {
			e.t.Fatal(err)
		}
	}
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// checkCopy checks a message replay or move stored: its Nats-Msg-Id has
// the README's form for the dead letter it came from, its first id is in
// mq-msg-id, the user's headers are kept and the publish conditions of
// the first publish are gone.
func checkCopy(t *testing.T, ms []*jetstream.RawStreamMsg, value, idPrefix, firstID, replayCount string) {
	t.Helper()
	if len(ms) != 1 {
		t.Errorf("%s: %d copies with mq-replay-count %q in the target stream, want 1", value, len(ms), replayCount)
		return
	}
	h := ms[0].Header
	if id := h.Get("Nats-Msg-Id"); !strings.HasPrefix(id, idPrefix) || len(id) == len(idPrefix) {
		t.Errorf("%s: Nats-Msg-Id %q, want %q followed by where the dead letter was", value, id, idPrefix)
	}
	if got := h.Get("mq-msg-id"); got != firstID {
		t.Errorf("%s: mq-msg-id %q, want %q", value, got, firstID)
	}
	if h.Get("tenant") != "eu" || h.Get("mq-replay-count") != replayCount {
		t.Errorf("%s: headers %v, want tenant=eu and mq-replay-count=%s", value, h, replayCount)
	}
	for name := range h {
		if strings.HasPrefix(name, "Nats-Expected-") {
			t.Errorf("%s: the copy carries %s, a condition of its first publish", value, name)
		}
	}
}

// JetStream replay and move of dead letters published by nats.go, with
// and without a Nats-Msg-Id, from an advisory stream (MSG_TERMINATED and
// MAX_DELIVERIES) and from a copy DLQ stream. Every copy gets an id that
// names its dead letter: a rerun of an interrupted replay is
// de-duplicated by the stream, and a second replay of a message that died
// again is stored although it is within the stream's duplicate window.
func TestDLQJetStreamMessageIDs(t *testing.T) {
	e := newJSEnv(t)
	e.stream(jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}, Duplicates: time.Hour})
	e.stream(jetstream.StreamConfig{Name: "DEAD", Subjects: []string{
		"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.ORDERS.>", "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.ORDERS.>"}})
	e.stream(jetstream.StreamConfig{Name: "ORDERS_DLQ", Subjects: []string{"dlq.orders.>"}, Duplicates: time.Hour})
	e.stream(jetstream.StreamConfig{Name: "ARCHIVE", Subjects: []string{"archive.>"}, Duplicates: time.Hour})

	// What the application published, some with an id, one with a
	// publish condition (Nats-Expected-Stream).
	e.publish("orders.created", "replay-1-id", "Nats-Msg-Id", "order-1", "tenant", "eu", "Nats-Expected-Stream", "ORDERS")
	e.publish("orders.created", "replay-2-noid", "tenant", "eu")
	e.publish("orders.created", "move-3-id", "Nats-Msg-Id", "order-3", "tenant", "eu")
	e.publish("orders.created", "move-4-noid", "tenant", "eu")
	e.fail("w1", 1, []string{"replay-1-id", "move-3-id"}, []string{"replay-2-noid", "move-4-noid"})
	e.waitDepth("DEAD", 4)
	// A copy DLQ filled by the application, copies with their headers.
	e.publish("dlq.orders.created", "copy-5-id", "Nats-Msg-Id", "order-5", "tenant", "eu")
	e.publish("dlq.orders.created", "copy-6-noid", "tenant", "eu")
	e.publish("dlq.orders.created", "copymove-7-id", "Nats-Msg-Id", "order-7", "tenant", "eu")
	e.publish("dlq.orders.created", "copymove-8-noid", "tenant", "eu")
	// Ids the target streams still remember: a copy must not be taken for these.
	e.publish("orders.created", "original-5", "Nats-Msg-Id", "order-5")
	e.publish("archive.orders", "archived-7", "Nats-Msg-Id", "order-7")

	c := newCLI(t)
	c.env = []string{"MQCTL_URL=" + e.url}
	r := c.run("dlq", "replay", "DEAD", "--grep", "^replay-", "--yes")
	if r.code != 0 || !strings.Contains(r.stderr, "replayed 2,") {
		t.Fatalf("replay DEAD: %+v", r)
	}
	r = c.run("dlq", "move", "DEAD", "--grep", "^move-", "--to", "archive.orders", "--yes")
	if r.code != 0 || !strings.Contains(r.stderr, "moved 2,") {
		t.Fatalf("move DEAD: %+v", r)
	}
	r = c.run("dlq", "replay", "ORDERS_DLQ", "--grep", "^copy-", "--to", "orders.created", "--yes")
	if r.code != 0 || !strings.Contains(r.stderr, "replayed 2,") {
		t.Fatalf("replay ORDERS_DLQ: %+v", r)
	}
	r = c.run("dlq", "move", "ORDERS_DLQ", "--grep", "^copymove-", "--to", "archive.orders", "--yes")
	if r.code != 0 || !strings.Contains(r.stderr, "moved 2,") {
		t.Fatalf("move ORDERS_DLQ: %+v", r)
	}
	if n := e.depth("DEAD") + e.depth("ORDERS_DLQ"); n != 0 {
		t.Errorf("%d dead letters left after replay and move", n)
	}

	checkCopy(t, e.copies("ORDERS", "replay-1-id", "1"), "replay-1-id", "order-1:replay:1:DEAD:", "order-1", "1")
	checkCopy(t, e.copies("ORDERS", "replay-2-noid", "1"), "replay-2-noid", "replay:1:DEAD:", "", "1")
	checkCopy(t, e.copies("ORDERS", "copy-5-id", "1"), "copy-5-id", "order-5:replay:1:ORDERS_DLQ:", "order-5", "1")
	checkCopy(t, e.copies("ORDERS", "copy-6-noid", "1"), "copy-6-noid", "replay:1:ORDERS_DLQ:", "", "1")
	checkCopy(t, e.copies("ARCHIVE", "move-3-id", ""), "move-3-id", "order-3:move:0:DEAD:", "order-3", "")
	checkCopy(t, e.copies("ARCHIVE", "move-4-noid", ""), "move-4-noid", "move:0:DEAD:", "", "")
	checkCopy(t, e.copies("ARCHIVE", "copymove-7-id", ""), "copymove-7-id", "order-7:move:0:ORDERS_DLQ:", "order-7", "")
	checkCopy(t, e.copies("ARCHIVE", "copymove-8-noid", ""), "copymove-8-noid", "move:0:ORDERS_DLQ:", "", "")
	if n := e.depth("ORDERS"); n != 4+1+4 {
		t.Errorf("ORDERS holds %d messages, want 4 originals, original-5 and 4 replays", n)
	}

	// Days later, within the duplicate window: the replayed messages fail
	// again and die again (a new advisory; a new copy made of the replayed
	// message, headers and all). Their second replay is stored, not taken
	// for the first.
	firstNoID := e.copies("ORDERS", "replay-2-noid", "1")[0].Header.Get("Nats-Msg-Id")
	e.fail("w2", e.lastSeq("ORDERS")-3, []string{"replay-1-id"}, []string{"replay-2-noid"})
	e.waitDepth("DEAD", 2)
	first := e.copies("ORDERS", "copy-5-id", "1")[0]
	e.publish("dlq.orders.created", "copy-5-id", headerPairs(first.Header)...)
	before := e.depth("ORDERS")
	r = c.run("dlq", "replay", "DEAD", "--yes")
	if r.code != 0 || !strings.Contains(r.stderr, "replayed 2,") || strings.Contains(r.stderr, "earlier run") {
		t.Fatalf("second replay of DEAD: %+v", r)
	}
	r = c.run("dlq", "replay", "ORDERS_DLQ", "--to", "orders.created", "--yes")
	if r.code != 0 || !strings.Contains(r.stderr, "replayed 1,") || strings.Contains(r.stderr, "earlier run") {
		t.Fatalf("second replay of ORDERS_DLQ: %+v", r)
	}
	if got := e.depth("ORDERS"); got != before+3 {
		t.Fatalf("ORDERS holds %d messages after the second replay, want %d: a replay was taken for a duplicate", got, before+3)
	}
	checkCopy(t, e.copies("ORDERS", "replay-1-id", "2"), "replay-1-id", "order-1:replay:2:DEAD:", "order-1", "2")
	// Without an id of its own, a message's first id is the one its first
	// replay gave it.
	checkCopy(t, e.copies("ORDERS", "replay-2-noid", "2"), "replay-2-noid", firstNoID+":replay:2:DEAD:", firstNoID, "2")
	checkCopy(t, e.copies("ORDERS", "copy-5-id", "2"), "copy-5-id", "order-5:replay:2:ORDERS_DLQ:", "order-5", "2")

	// A run interrupted after the publish and before the delete left the
	// dead letter in place and its copy in the target; the rerun sends the
	// same id, and the stream keeps one copy.
	ack, err := e.js.Publish(context.Background(), "dlq.orders.created", []byte("copy-9-id"), jetstream.WithMsgID("order-9"))
	if err != nil {
		t.Fatal(err)
	}
	e.publish("orders.created", "copy-9-id", "Nats-Msg-Id", "order-9:replay:1:ORDERS_DLQ:"+strconv.FormatUint(ack.Sequence, 10),
		"mq-msg-id", "order-9", "mq-replay-count", "1")
	before = e.depth("ORDERS")
	r = c.run("dlq", "replay", "ORDERS_DLQ", "--to", "orders.created", "--yes")
	if r.code != 0 || !strings.Contains(r.stderr, "replayed 1 (1 of them sent by an earlier run already") {
		t.Fatalf("rerun: %+v", r)
	}
	if got := e.depth("ORDERS"); got != before {
		t.Errorf("ORDERS holds %d messages after the rerun, want %d: the rerun stored a second copy", got, before)
	}
	e.waitDepth("ORDERS_DLQ", 0)
}

// headerPairs flattens h into name, value pairs for publish.
func headerPairs(h nats.Header) []string {
	var out []string
	for name, values := range h {
		for _, v := range values {
			out = append(out, name, v)
		}
	}
	return out
}
