package cmd_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Dump and restore (consume -o jsonl, then produce --format jsonl) keeps
// every record franz-go wrote as it was: a tombstone stays a tombstone, a
// null key and a null header value stay null and differ from empty ones, and
// a header name that is not UTF-8 keeps its bytes. Records are written and
// read back with kgo directly, not with mqctl's producer.
func TestKafkaDumpRestoreKeepsNulls(t *testing.T) {
	k, cl := kafkaTopic(t, "fid-src", 1, nil)
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1, nil, "fid-dst"); err != nil {
		t.Fatal(err)
	}
	want := writeNullRecords(t, cl, "fid-src")
	c := newCLI(t)
	dump := c.run("consume", "fid-src", "--url", k.URL, "--until-end", "-o", "jsonl")
	if dump.code != 0 {
		t.Fatalf("consume: %+v", dump)
	}
	for _, s := range []string{`"value":null`, `["null",null]`, `["empty",""]`, `{"b64":"//5iaW4="}`} {
		if !strings.Contains(dump.stdout, s) {
			t.Errorf("dump lacks %s:\n%s", s, dump.stdout)
		}
	}
	if strings.Contains(dump.stdout, "\uFFFD") {
		t.Errorf("dump holds U+FFFD:\n%s", dump.stdout)
	}
	r := c.runIn([]byte(dump.stdout), "produce", "fid-dst", "--url", k.URL, "--format", "jsonl")
	if r.code != 0 {
		t.Fatalf("produce: %+v", r)
	}
	got := readTopic(t, k.Addrs(), "fid-dst", len(want))
	for i, w := range want {
		if d := recordDiff(w, got[i]); d != "" {
			t.Errorf("record %d: %s", i, d)
		}
	}
	// A handler sees the headers as the envelope writes them.
	r = c.run("consume", "fid-src", "--url", k.URL, "--until-end", "--exec", `echo "$MQ_HEADERS_JSON"`)
	if want := `[["null",null],["empty",""],[{"b64":"//5iaW4="},"x"],["dup","1"],["dup",null],["bin",{"b64":"gAA="}]]`; r.code != 0 || !strings.Contains(r.stdout, want+"\n") {
		t.Errorf("MQ_HEADERS_JSON: want %s in %+v", want, r)
	}
}

// writeNullRecords writes, with kgo, records that have what Kafka can
// carry and a dump could lose: a tombstone, null and empty keys, values
// and header values, repeated and binary header names, binary keys and
// values. It returns them as written.
func writeNullRecords(t *testing.T, cl *kgo.Client, topic string) []*kgo.Record {
	t.Helper()
	ts := time.UnixMilli(time.Now().UnixMilli() - 3600_000)
	recs := []*kgo.Record{
		{Key: []byte("deleted"), Value: nil},
		{Key: nil, Value: []byte("no key")},
		{Key: []byte{}, Value: []byte{}},
		{Key: []byte("h"), Value: []byte("v"), Headers: []kgo.RecordHeader{
			{Key: "null", Value: nil}, {Key: "empty", Value: []byte{}}, {Key: "\xff\xfebin", Value: []byte("x")},
			{Key: "dup", Value: []byte("1")}, {Key: "dup", Value: nil}, {Key: "bin", Value: []byte{0x80, 0}},
		}},
		{Key: []byte{0xff, 0}, Value: []byte{0xc3, 0x28}},
	}
	for _, r := range recs {
		r.Topic, r.Timestamp = topic, ts
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return recs
}

// dlq move (same broker) and dlq purge --export, restored with the command
// purge prints, keep Kafka's nulls and binary header names as they were.
func TestKafkaDLQMoveAndPurgeExportKeepNulls(t *testing.T) {
	k, cl := kafkaTopic(t, "fid.DLT", 1, nil)
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1, nil, "fid.moved"); err != nil {
		t.Fatal(err)
	}
	want := writeNullRecords(t, cl, "fid.DLT")
	c := newCLI(t)
	if r := c.run("dlq", "move", "fid.DLT", "--to", "fid.moved", "--group", "fid-move", "--yes", "--url", k.URL); r.code != 0 {
		t.Fatalf("move: %+v", r)
	}
	for i, got := range readTopic(t, k.Addrs(), "fid.moved", len(want)) {
		if d := recordDiff(want[i], got); d != "" {
			t.Errorf("moved record %d: %s", i, d)
		}
	}
	c.env = []string{"MQCTL_URL=" + k.URL}
	export := filepath.Join(t.TempDir(), "dlt.jsonl")
	r := c.run("dlq", "purge", "fid.DLT", "--export", export, "--yes")
	if r.code != 0 {
		t.Fatalf("purge: %+v", r)
	}
	if rr := c.runAsPrinted(restoreLine(t, r)); rr.code != 0 {
		t.Fatalf("restore: %+v", rr)
	}
	for i, got := range readTopic(t, k.Addrs(), "fid.DLT", len(want)) {
		if d := recordDiff(want[i], got); d != "" {
			t.Errorf("restored record %d: %s", i, d)
		}
	}
}

// recordDiff names the first field in which b differs from a, nil and
// empty told apart; "" when they are the same.
func recordDiff(a, b *kgo.Record) string {
	same := func(x, y []byte) bool { return bytes.Equal(x, y) && (x == nil) == (y == nil) }
	switch {
	case !same(a.Key, b.Key):
		return fmt.Sprintf("key %#v, want %#v", b.Key, a.Key)
	case !same(a.Value, b.Value):
		return fmt.Sprintf("value %#v, want %#v", b.Value, a.Value)
	case !a.Timestamp.Equal(b.Timestamp):
		return fmt.Sprintf("timestamp %v, want %v", b.Timestamp, a.Timestamp)
	case len(a.Headers) != len(b.Headers):
		return fmt.Sprintf("headers %s, want %s", headerString(b.Headers), headerString(a.Headers))
	}
	for i, h := range a.Headers {
		if g := b.Headers[i]; g.Key != h.Key || !same(g.Value, h.Value) {
			return fmt.Sprintf("header %d: %q=%#v, want %q=%#v", i, g.Key, g.Value, h.Key, h.Value)
		}
	}
	return ""
}

// Restoring a JetStream dump into the stream it came from, within the
// duplicate window, stores nothing again: the PubAcks say Duplicate, and
// produce counts those as duplicates, not as confirmed writes, and still
// exits 0 (each message is in the stream once). Written and read back with
// nats.go directly.
func TestProduceJetStreamCountsDuplicates(t *testing.T) {
	nsrv, js := natsJetStream(t)
	srv := nsrv.URL
	ctx := context.Background()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "DEDUP", Subjects: []string{"dedup.>"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"m-1", "m-2"} {
		if _, err := js.Publish(ctx, "dedup.a", []byte("v-"+id), jetstream.WithMsgID(id)); err != nil {
			t.Fatal(err)
		}
	}
	c := newCLI(t)
	dump := c.run("consume", "DEDUP", "--url", srv, "--until-end", "-o", "jsonl")
	if dump.code != 0 || strings.Count(dump.stdout, "\n") != 2 {
		t.Fatalf("consume: %+v", dump)
	}
	in := dump.stdout + `{"v":1,"value":"v-m-3","msg_id":"m-3"}` + "\n"
	r := c.runIn([]byte(in), "produce", "dedup.a", "--url", srv, "--format", "jsonl")
	if r.code != 0 {
		t.Fatalf("produce: exit %d: %s", r.code, r.stderr)
	}
	if want := "sent 3, confirmed 1, failed 0, duplicates 2 (the stream had them already and did not store them again)"; !strings.Contains(r.stderr, want) {
		t.Errorf("summary lacks %q: %s", want, r.stderr)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 3 {
		t.Fatalf("stream holds %d messages, want 3", info.State.Msgs)
	}
	m, err := stream.GetMsg(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != "v-m-3" || m.Header.Get(jetstream.MsgIDHeader) != "m-3" {
		t.Errorf("message 3: %q %v", m.Data, m.Header)
	}
}

// A JetStream dump restored into another stream keeps each message as it
// was: headers with repeated and empty values, its Nats-Msg-Id when it had
// one, and no id of mqctl's own when it had none. Written and read back
// with nats.go directly.
func TestJetStreamDumpRestoreAddsNoMsgID(t *testing.T) {
	nsrv, js := natsJetStream(t)
	ctx := context.Background()
	for name, subj := range map[string]string{"SRC": "src.>", "DST": "dst.>"} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subj}}); err != nil {
			t.Fatal(err)
		}
	}
	withID := nats.NewMsg("src.a")
	withID.Data = []byte("with id")
	withID.Header.Set(jetstream.MsgIDHeader, "m-1")
	withoutID := nats.NewMsg("src.a")
	withoutID.Data = []byte("without id")
	withoutID.Header.Add("trace", "a")
	withoutID.Header.Add("trace", "b")
	withoutID.Header.Add("empty", "")
	want := []*nats.Msg{withID, withoutID}
	for _, m := range want {
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	c := newCLI(t)
	dump := c.run("consume", "SRC", "--url", nsrv.URL, "--until-end", "-o", "jsonl")
	if dump.code != 0 {
		t.Fatalf("consume: %+v", dump)
	}
	if r := c.runIn([]byte(dump.stdout), "produce", "dst.a", "--url", nsrv.URL, "--format", "jsonl"); r.code != 0 {
		t.Fatalf("produce: %+v", r)
	}
	dst, err := js.Stream(ctx, "DST")
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		got, err := dst.GetMsg(ctx, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Data) != string(w.Data) || !reflect.DeepEqual(got.Header, w.Header) {
			t.Errorf("message %d: %q %v, want %q %v", i, got.Data, got.Header, w.Data, w.Header)
		}
	}
}

// consume --on-fail dead-letter on JetStream sends the copy with an id of
// its own ("<id>:dead-letter:<stream>:<seq>"), and the first id in
// mq-msg-id: with the original Nats-Msg-Id the stream (here the same one,
// as DEST is among its subjects) took the copy for a duplicate within its
// window, acked it without storing it, and the message was lost. Written
// and read back with nats.go directly.
func TestConsumeJetStreamDeadLetterGetsItsOwnID(t *testing.T) {
	nsrv, js := natsJetStream(t)
	ctx := context.Background()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	if err != nil {
		t.Fatal(err)
	}
	withID := nats.NewMsg("orders.new")
	withID.Data = []byte("order 5")
	withID.Header.Set(jetstream.MsgIDHeader, "order-5")
	withID.Header.Add("trace", "a")
	withID.Header.Add("trace", "b")
	withoutID := nats.NewMsg("orders.new")
	withoutID.Data = []byte("order 6")
	for _, m := range []*nats.Msg{withID, withoutID} {
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	r := newCLI(t).run("consume", "ORDERS", "--url", nsrv.URL, "--filter-subject", "orders.new", "--until-end",
		"--exec", "exit 1", "--retries", "0", "--on-fail", "dead-letter=orders.dead")
	if !strings.Contains(r.stderr, "dead-lettered 2") {
		t.Fatalf("consume: exit %d: %s", r.code, r.stderr)
	}
	want := []struct{ value, id, first string }{
		{"order 5", "order-5:dead-letter:ORDERS:1", "order-5"},
		{"order 6", "dead-letter:ORDERS:2", ""},
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 4 {
		t.Fatalf("stream holds %d messages, want 2 and their 2 dead-letter copies", info.State.Msgs)
	}
	for i, w := range want {
		m, err := stream.GetMsg(ctx, uint64(3+i))
		if err != nil {
			t.Fatal(err)
		}
		h := m.Header
		switch {
		case m.Subject != "orders.dead" || string(m.Data) != w.value:
			t.Errorf("copy %d: %s %q", i, m.Subject, m.Data)
		case h.Get(jetstream.MsgIDHeader) != w.id || len(h.Values(jetstream.MsgIDHeader)) != 1:
			t.Errorf("copy %d: Nats-Msg-Id %q, want %q", i, h.Values(jetstream.MsgIDHeader), w.id)
		case h.Get("mq-msg-id") != w.first:
			t.Errorf("copy %d: mq-msg-id %q, want %q", i, h.Get("mq-msg-id"), w.first)
		case h.Get("mq-original-stream-seq") != fmt.Sprint(i+1):
			t.Errorf("copy %d: headers %v", i, h)
		}
	}
	first, err := stream.GetMsg(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := first.Header.Values("trace"); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("user headers: %v", got)
	}
}

// RabbitMQ: dump and restore keep every AMQP field type of the headers
// (nested too), every basic property and the delivery mode (a transient
// message stays transient), and dlq replay keeps them as well (but the
// expiration). Written and read back with amqp091-go
// directly; the headers are compared with reflect.DeepEqual, types
// included.
func TestRabbitMQDumpRestoreKeepsTypedHeaders(t *testing.T) {
	u, ch := rabbitQueue(t, "fid-src", nil)
	for _, q := range []string{"fid-dst", "fid-back"} {
		if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	stamp := time.Unix(1_700_000_000, 0)
	headers := amqp.Table{
		"void": nil, "empty": "", "str": "s", "bin": []byte{0xff, 0}, "utf8-bytes": []byte("text"),
		"i8": int8(-8), "u8": uint8(200), "i16": int16(-1600), "u16": uint16(60000), "i32": int32(-320000),
		"u32": uint32(4_000_000_000), "i64": int64(-1) << 62, "f32": float32(1.5), "f64": 0.1, "f64max": math.MaxFloat64,
		"dec": amqp.Decimal{Scale: 2, Value: 150}, "ts": stamp, "yes": true, "no": false,
		"table": amqp.Table{"n": int32(1), "s": "x", "deep": amqp.Table{"v": nil, "b": []byte("b"), "d": amqp.Decimal{Scale: 0, Value: -3}}},
		"array": []any{int64(1), "two", uint8(3), []any{true, stamp}, amqp.Table{"k": float32(2)}},
	}
	msgs := []amqp.Publishing{
		{Headers: headers, Body: []byte("b"), ContentType: "text/plain", ContentEncoding: "gzip", DeliveryMode: amqp.Persistent,
			Priority: 4, CorrelationId: "c", ReplyTo: "r", Expiration: "600000", MessageId: "m", Timestamp: stamp,
			Type: "t", UserId: "guest", AppId: "a"},
		{Body: []byte("transient"), DeliveryMode: amqp.Transient},
		// AMQP properties are bytes: ones that are not UTF-8 come back as
		// they were (base64 in the dump, listed in "b64").
		{Body: []byte("bytes"), DeliveryMode: amqp.Persistent, ContentType: "text/\xff", ContentEncoding: "\xfe",
			CorrelationId: "\xc3\x28", ReplyTo: "r\xff", MessageId: "m\xfe\xff", Type: "t\x80", AppId: "a\xff"},
	}
	for _, m := range msgs {
		if err := ch.PublishWithContext(context.Background(), "", "fid-src", false, false, m); err != nil {
			t.Fatal(err)
		}
	}
	c := newCLI(t)
	c.env = []string{"MQCTL_URL=" + u}
	dump := c.run("consume", "fid-src", "-n", strconv.Itoa(len(msgs)), "-o", "jsonl")
	if dump.code != 0 || !strings.Contains(dump.stdout, `"v":3`) || !strings.Contains(dump.stdout, `["i32",{"int32":-320000}]`) ||
		!strings.Contains(dump.stdout, `"v":4`) || strings.Contains(dump.stdout, `\ufffd`) {
		t.Fatalf("consume: %+v", dump)
	}
	if r := c.runIn([]byte(dump.stdout), "produce", "--queue", "fid-dst", "--format", "jsonl"); r.code != 0 {
		t.Fatalf("produce: %+v", r)
	}
	for i, m := range msgs {
		if d := publishingDiff(m, getAMQP(t, ch, "fid-dst")); d != "" {
			t.Errorf("restored message %d: %s", i, d)
		}
	}
	for _, m := range msgs {
		if err := ch.PublishWithContext(context.Background(), "", "fid-dst", false, false, m); err != nil {
			t.Fatal(err)
		}
	}
	if r := c.run("dlq", "replay", "fid-dst", "--to", "fid-back", "--yes"); r.code != 0 {
		t.Fatalf("replay: %+v", r)
	}
	for i, m := range msgs {
		d := getAMQP(t, ch, "fid-back")
		delete(d.Headers, "mq-replay-count")
		if len(d.Headers) == 0 {
			d.Headers = nil
		}
		m.Expiration = "" // replay leaves the TTL out: it may be why the message died
		if diff := publishingDiff(m, d); diff != "" {
			t.Errorf("replayed message %d: %s", i, diff)
		}
	}
}

// getAMQP takes the next message of queue, waiting for it.
func getAMQP(t *testing.T, ch *amqp.Channel, queue string) amqp.Delivery {
	t.Helper()
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		d, ok, err := ch.Get(queue, true)
		if err != nil {
			t.Fatal(err)
		} else if ok {
			return d
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%s stayed empty", queue)
		}
	}
}

// publishingDiff names what d lost of p, headers compared with their
// types; "" when nothing.
func publishingDiff(p amqp.Publishing, d amqp.Delivery) string {
	got := amqp.Publishing{
		Headers: d.Headers, Body: d.Body, ContentType: d.ContentType, ContentEncoding: d.ContentEncoding,
		DeliveryMode: d.DeliveryMode, Priority: d.Priority, CorrelationId: d.CorrelationId, ReplyTo: d.ReplyTo,
		Expiration: d.Expiration, MessageId: d.MessageId, Timestamp: d.Timestamp, Type: d.Type, UserId: d.UserId, AppId: d.AppId,
	}
	if p.DeliveryMode == amqp.Transient && got.DeliveryMode == 0 {
		got.DeliveryMode = amqp.Transient
	}
	if !reflect.DeepEqual(got.Headers, p.Headers) {
		var diffs []string
		for k, v := range p.Headers {
			if g, ok := got.Headers[k]; !ok || !reflect.DeepEqual(g, v) {
				diffs = append(diffs, fmt.Sprintf("%s: %T %#v, want %T %#v", k, g, g, v, v))
			}
		}
		return fmt.Sprintf("headers differ (%d, want %d): %s", len(got.Headers), len(p.Headers), strings.Join(diffs, "; "))
	}
	got.Headers, p.Headers = nil, nil
	if !got.Timestamp.Equal(p.Timestamp) {
		return fmt.Sprintf("timestamp %v, want %v", got.Timestamp, p.Timestamp)
	}
	got.Timestamp, p.Timestamp = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, p) {
		return fmt.Sprintf("properties\n got %+v\nwant %+v", got, p)
	}
	return ""
}

// A Kafka dump restored into RabbitMQ or JetStream, which have no keys,
// keeps each record's key in the header mq-kafka-key (an empty key as "",
// no key as no header; a key that is not UTF-8 is a byte array on
// RabbitMQ and base64 in mq-kafka-key-b64 on NATS). Written with kgo, read back with amqp091-go and nats.go.
func TestKafkaKeyCarriedAcrossBrokers(t *testing.T) {
	k, cl := kafkaTopic(t, "fid-keys", 1, nil)
	recs := []*kgo.Record{
		{Topic: "fid-keys", Key: []byte("customer-7"), Value: []byte("a")},
		{Topic: "fid-keys", Key: nil, Value: []byte("b")},
		{Topic: "fid-keys", Key: []byte{}, Value: []byte("c")},
		{Topic: "fid-keys", Key: []byte{0xff, 0}, Value: []byte("d")},
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	c := newCLI(t)
	dump := c.run("consume", "fid-keys", "--url", k.URL, "--until-end", "-o", "jsonl")
	if dump.code != 0 {
		t.Fatalf("consume: %+v", dump)
	}
	wantAMQP := []any{"customer-7", nil, "", []byte{0xff, 0}}

	u, ch := rabbitQueue(t, "fid-keys", nil)
	if r := c.runIn([]byte(dump.stdout), "produce", "--queue", "fid-keys", "--url", u, "--format", "jsonl"); r.code != 0 {
		t.Fatalf("produce to RabbitMQ: %+v", r)
	}
	for i, want := range wantAMQP {
		d := getAMQP(t, ch, "fid-keys")
		got, ok := d.Headers["mq-kafka-key"]
		if string(d.Body) != string(recs[i].Value) || ok != (want != nil) || !reflect.DeepEqual(got, want) || len(d.Headers) > 1 {
			t.Errorf("RabbitMQ message %d: %q headers %#v, want mq-kafka-key %#v", i, d.Body, d.Headers, want)
		}
	}

	nsrv, js := natsJetStream(t)
	ctx := context.Background()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "KEYS", Subjects: []string{"keys.>"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := c.runIn([]byte(dump.stdout), "produce", "keys.a", "--url", nsrv.URL, "--format", "jsonl"); r.code != 0 {
		t.Fatalf("produce to NATS: %+v", r)
	}
	// The key that is not UTF-8 cannot be a NATS header value as it is.
	wantNATS := []nats.Header{{"mq-kafka-key": {"customer-7"}}, nil, {"mq-kafka-key": {""}}, {"mq-kafka-key-b64": {"/wA="}}}
	for i, want := range wantNATS {
		m, err := stream.GetMsg(ctx, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Header) == 0 {
			m.Header = nil
		}
		if !reflect.DeepEqual(m.Header, want) {
			t.Errorf("NATS message %d: headers %v, want %v", i, m.Header, want)
		}
	}
}

// A Kafka record moved into RabbitMQ or NATS and back into Kafka is the
// record it was: its key, carried there in mq-kafka-key (or
// mq-kafka-key-b64), is a key again and the header is gone; a null key
// stays null, an empty key empty, a binary key keeps its bytes. Written
// with kgo, moved with mqctl (consume -o jsonl | produce --format jsonl,
// and dlq move --to-context), read back with kgo.
func TestKafkaKeyRoundTripAcrossBrokers(t *testing.T) {
	k, cl := kafkaTopic(t, "rt-src", 1, nil)
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopics(context.Background(), 1, 1, nil, "rt-amqp-jsonl", "rt-amqp-move", "rt-nats-jsonl"); err != nil {
		t.Fatal(err)
	}
	recs := []*kgo.Record{
		{Key: []byte("customer-7"), Value: []byte("a"), Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("t1")}}},
		{Key: nil, Value: []byte("b")},
		{Key: []byte{}, Value: []byte("c"), Headers: []kgo.RecordHeader{{Key: "empty", Value: []byte{}}}},
		{Key: []byte{0xff, 0, 0x80}, Value: []byte{0xc3, 0x28}},
		{Key: []byte(" padded key "), Value: []byte("e")},
	}
	for _, r := range recs {
		r.Topic = "rt-src"
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	c := newCLI(t)
	if r := c.run("context", "add", "kafka", "--url", k.URL); r.code != 0 {
		t.Fatalf("context add: %+v", r)
	}
	dump := c.run("consume", "rt-src", "--url", k.URL, "--until-end", "-o", "jsonl")
	if dump.code != 0 {
		t.Fatalf("consume: %+v", dump)
	}
	restore := func(stdin, topic string) {
		t.Helper()
		if r := c.runIn([]byte(stdin), "produce", topic, "-c", "kafka", "--format", "jsonl"); r.code != 0 {
			t.Fatalf("produce into %s: %+v", topic, r)
		}
	}
	check := func(topic string) {
		t.Helper()
		for i, got := range readTopic(t, k.Addrs(), topic, len(recs)) {
			w := *recs[i]
			w.Timestamp = got.Timestamp // the round trip is about key, value and headers
			if d := recordDiff(&w, got); d != "" {
				t.Errorf("%s record %d: %s", topic, i, d)
			}
		}
	}

	// RabbitMQ, back with consume | produce and with dlq move.
	u, ch := rabbitQueue(t, "rt-a", nil)
	if _, err := ch.QueueDeclare("rt-b", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"rt-a", "rt-b"} {
		if r := c.runIn([]byte(dump.stdout), "produce", "--queue", q, "--url", u, "--format", "jsonl"); r.code != 0 {
			t.Fatalf("produce into RabbitMQ %s: %+v", q, r)
		}
		waitDepth(t, ch, q, len(recs))
	}
	back := c.run("consume", "rt-a", "--url", u, "--count", strconv.Itoa(len(recs)), "-o", "jsonl")
	if back.code != 0 || !strings.Contains(back.stdout, "mq-kafka-key") {
		t.Fatalf("consume from RabbitMQ: %+v", back)
	}
	restore(back.stdout, "rt-amqp-jsonl")
	check("rt-amqp-jsonl")
	if r := c.run("dlq", "move", "rt-b", "--url", u, "--to-context", "kafka", "--to", "rt-amqp-move", "--yes"); r.code != 0 {
		t.Fatalf("dlq move: %+v", r)
	}
	check("rt-amqp-move")

	// NATS, where the binary and the padded key travel in base64.
	nsrv, js := natsJetStream(t)
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "RT", Subjects: []string{"rt.>"}}); err != nil {
		t.Fatal(err)
	}
	if r := c.runIn([]byte(dump.stdout), "produce", "rt.a", "--url", nsrv.URL, "--format", "jsonl"); r.code != 0 {
		t.Fatalf("produce into NATS: %+v", r)
	}
	back = c.run("consume", "RT", "--url", nsrv.URL, "--until-end", "-o", "jsonl")
	if back.code != 0 || !strings.Contains(back.stdout, "mq-kafka-key-b64") {
		t.Fatalf("consume from NATS: %+v", back)
	}
	restore(back.stdout, "rt-nats-jsonl")
	check("rt-nats-jsonl")

	// Kafka to Kafka is a copy: a keyless record's header of that name is
	// its data, not a carried key.
	if _, err := adm.CreateTopics(context.Background(), 1, 1, nil, "rt-kk-src", "rt-kk"); err != nil {
		t.Fatal(err)
	}
	own := &kgo.Record{Topic: "rt-kk-src", Value: []byte("f"), Headers: []kgo.RecordHeader{{Key: "mq-kafka-key", Value: []byte("data")}}}
	if err := cl.ProduceSync(context.Background(), own).FirstErr(); err != nil {
		t.Fatal(err)
	}
	kk := c.run("consume", "rt-kk-src", "--url", k.URL, "--until-end", "-o", "jsonl")
	if kk.code != 0 {
		t.Fatalf("consume rt-kk-src: %+v", kk)
	}
	restore(kk.stdout, "rt-kk")
	got := readTopic(t, k.Addrs(), "rt-kk", 1)[0]
	w := *own
	w.Topic, w.Timestamp = "rt-kk", got.Timestamp
	if d := recordDiff(&w, got); d != "" {
		t.Errorf("Kafka to Kafka: %s", d)
	}

	// A record with a key of its own and such a header cannot carry its
	// key into RabbitMQ or NATS: it fails, naming the header, rather than
	// arriving without its key.
	clash := &kgo.Record{Topic: "rt-kk-src", Key: []byte("own"), Value: []byte("g"), Headers: []kgo.RecordHeader{{Key: "mq-kafka-key", Value: []byte("data")}}}
	if err := cl.ProduceSync(context.Background(), clash).FirstErr(); err != nil {
		t.Fatal(err)
	}
	dump = c.run("consume", "rt-kk-src", "--url", k.URL, "--from", "1", "--until-end", "-o", "jsonl")
	if dump.code != 0 || strings.Count(dump.stdout, "\n") != 1 {
		t.Fatalf("consume the clashing record: %+v", dump)
	}
	if _, err := ch.QueueDeclare("rt-c", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	for _, to := range [][]string{{"--queue", "rt-c", "--url", u}, {"rt.c", "--url", nsrv.URL}} {
		r := c.runIn([]byte(dump.stdout), append([]string{"produce", "--format", "jsonl"}, to...)...)
		if r.code != 3 || !strings.Contains(r.stderr, `key not carried: the message has its own header "mq-kafka-key"`) {
			t.Errorf("produce %v of a keyed record with a header mq-kafka-key: %+v; want a failure naming the header", to, r)
		}
	}
	if q, err := ch.QueueDeclarePassive("rt-c", true, false, false, false, nil); err != nil || q.Messages != 0 {
		t.Errorf("rt-c after the refused produce: %+v, %v; want empty", q, err)
	}
	// dlq move leaves such a record in place, says why, and moves the
	// others: a rerun does not stop at it.
	if r := c.run("context", "add", "rabbit", "--url", u); r.code != 0 {
		t.Fatalf("context add: %+v", r)
	}
	dry := c.run("dlq", "move", "rt-kk-src", "-c", "kafka", "--to-context", "rabbit", "--to", "rt-c", "--dry-run")
	mv := c.run("dlq", "move", "rt-kk-src", "-c", "kafka", "--to-context", "rabbit", "--to", "rt-c", "--yes")
	if !strings.Contains(dry.stdout+dry.stderr, `its own header "mq-kafka-key"`) || !strings.Contains(mv.stderr, `its own header "mq-kafka-key"`) {
		t.Errorf("dlq move of the clashing record: dry run %+v, run %+v; want it named as left in place", dry, mv)
	}
	if d := getAMQP(t, ch, "rt-c"); string(d.Body) != "f" {
		t.Errorf("moved %q, want the record without a key (f)", d.Body)
	}
}
