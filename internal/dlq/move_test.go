package dlq

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/envelope"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/nagios"
)

func TestFilterMatch(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	m := &broker.Message{Value: []byte(`{"order": 7}`), Timestamp: now.Add(-2 * time.Hour),
		Headers: []broker.Header{{Key: "tenant", Value: []byte("eu")}}}
	o := Origin{Reason: "Rejected by consumer", Destination: "orders", LastDeath: now.Add(-30 * time.Minute)}
	tests := []struct {
		name                 string
		grep, reason, orig   string
		headers              []string
		olderThan, newerThan time.Duration
		want                 bool
	}{
		{name: "no filter", want: true},
		{name: "reason case-insensitive", reason: "rejected", want: true},
		{name: "reason miss", reason: "expired", want: false},
		{name: "value", grep: `"order": 7`, want: true},
		{name: "header", headers: []string{"tenant=eu"}, want: true},
		{name: "header miss", headers: []string{"tenant=us"}, want: false},
		{name: "original", orig: "orders", want: true},
		{name: "original miss", orig: "payments", want: false},
		{name: "older than, by death time not message time", olderThan: 20 * time.Minute, want: true},
		{name: "not older", olderThan: time.Hour, want: false},
		{name: "newer than", newerThan: time.Hour, want: true},
		{name: "not newer", newerThan: 10 * time.Minute, want: false},
	}
	for _, tc := range tests {
		f, err := NewFilter(tc.grep, tc.headers, tc.reason, tc.olderThan, tc.newerThan, tc.orig, now)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Match(m, o); got != tc.want {
			t.Errorf("%s: Match = %v, want %v", tc.name, got, tc.want)
		}
	}
	// Without a death time the message's timestamp is the death time.
	f, _ := NewFilter("", nil, "", time.Hour, 0, "", now)
	if !f.Match(m, Origin{}) {
		t.Error("age from the message timestamp")
	}
	if f.Match(&broker.Message{}, Origin{}) {
		t.Error("an age filter must not select a dead letter of unknown age")
	}
	if _, err := NewFilter("", nil, "(", 0, 0, "", now); !mqerr.Is(err, mqerr.Usage) {
		t.Errorf("bad --reason: %v", err)
	}
}

func TestCheck(t *testing.T) {
	th := CheckThresholds{Warn: 10, Crit: 100}
	tests := []struct {
		depths []Depth
		code   nagios.Status
		line   string
	}{
		{nil, nagios.OK, "OK no dead-letter destinations found"},
		{[]Depth{{"a", 0}, {"b", 3}}, nagios.OK, "OK dlq=b messages=3; 0 of 2 over thresholds"},
		{[]Depth{{"a", 10}, {"b", 3}}, nagios.Warning, "WARN dlq=a messages=10 (warn 10); 1 of 2 over thresholds"},
		{[]Depth{{"a", 10}, {"b", 300}}, nagios.Critical, "CRIT dlq=b messages=300 (crit 100); 2 of 2 over thresholds"},
	}
	for _, tc := range tests {
		code, line := Check(tc.depths, th)
		if code != tc.code || line != tc.line {
			t.Errorf("Check(%v) = %d %q, want %d %q", tc.depths, code, line, tc.code, tc.line)
		}
	}
	for _, bad := range []CheckThresholds{{}, {Warn: 5, Crit: 2}, {Warn: -1, Crit: 3}} {
		if err := bad.Validate(); !mqerr.Is(err, mqerr.Usage) {
			t.Errorf("Validate(%+v) = %v", bad, err)
		}
	}
}

func TestPublisherMessageShapes(t *testing.T) {
	died := time.Now()
	src := &broker.Message{Key: []byte("k"), Value: []byte("v"), Destination: "orders.DLT",
		Kafka: broker.KafkaMeta{Partition: 1, Offset: 41}}
	dead := DeadLetter("kafka", &broker.Message{Key: []byte("k"), Value: []byte("v"), Destination: "orders",
		Kafka:   broker.KafkaMeta{Partition: 3, Offset: 9},
		Headers: []broker.Header{{Key: "user", Value: []byte("1")}}}, Death{Reason: "boom", Time: died, Count: 2})
	src.Headers = dead.Headers
	d := &broker.Delivery{Message: *src}
	o := DecodeOrigin("kafka", &d.Message)

	p := &Publisher{Shape: Replay, Source: capsKafka, Target: capsKafka}
	m, err := p.message(&d.Message, d, o)
	if err != nil {
		t.Fatal(err)
	}
	if m.Destination != "orders" || m.Kafka.Partition != -1 || len(m.Headers) != 2 ||
		m.Headers[0].Key != "user" || m.Headers[1].Key != HeaderReplayCount || string(m.Headers[1].Value) != "1" {
		t.Errorf("kafka replay = %+v", m)
	}

	// To NATS: the message id names the dead letter (see TestJetStreamMsgID).
	p = &Publisher{Shape: Replay, Source: capsKafka, Target: capsNats, To: "orders.retry"}
	m, _ = p.message(&d.Message, d, o)
	if m.NATS.Subject != "orders.retry" || m.NATS.MsgID != "replay:1:orders.DLT:1:41" {
		t.Errorf("nats replay subject %q id %q", m.NATS.Subject, m.NATS.MsgID)
	}

	// AsIs keeps every header; RabbitMQ targets get a queue route and keep
	// the message id.
	amqpSrc := &broker.Message{Value: []byte("x"), AMQP: broker.AMQPMeta{Queue: "work.dlq", MessageID: "id-7", Persistent: true},
		Headers: []broker.Header{{Key: "x-death", Value: []byte(`[{"queue":"work","reason":"rejected","exchange":"","routing-keys":["work"],"count":1}]`)}}}
	ad := &broker.Delivery{Message: *amqpSrc}
	ao := DecodeOrigin("rabbitmq", &ad.Message)
	p = &Publisher{Shape: AsIs, Source: capsRabbitmq, Target: capsRabbitmq, To: "work.parked"}
	m, _ = p.message(&ad.Message, ad, ao)
	if m.AMQP.Exchange != "" || m.AMQP.RoutingKey != "work.parked" || m.AMQP.MessageID != "id-7" || len(m.Headers) != 1 {
		t.Errorf("rabbitmq as-is = %+v", m)
	}
	p = &Publisher{Shape: Replay, Source: capsRabbitmq, Target: capsRabbitmq}
	m, _ = p.message(&ad.Message, ad, ao)
	if m.AMQP.RoutingKey != "work" || m.AMQP.MessageID != "id-7" || !m.AMQP.Persistent || len(m.Headers) != 1 || m.Headers[0].Key != HeaderReplayCount {
		t.Errorf("rabbitmq replay = %+v", m)
	}

	// No origin and no --to: left in place, not a failure.
	p = &Publisher{Shape: Replay, Source: capsKafka, Target: capsKafka}
	bare := &broker.Delivery{Message: broker.Message{Value: []byte("?")}}
	if _, err := p.message(&bare.Message, bare, Origin{}); err == nil || !strings.Contains(err.Error(), "--to") {
		t.Errorf("unknown origin: %v", err)
	}
}

func TestExporterSyncsBeforeConfirming(t *testing.T) {
	path := filepath.Join(t.TempDir(), "export.jsonl")
	e := &Exporter{Source: capsKafka, Path: path}
	defer e.Close()
	confirmed := 0
	for i := range 300 {
		d := &broker.Delivery{Message: broker.Message{Value: []byte("v"), Destination: "t", Kafka: broker.KafkaMeta{Partition: int32(i % 2), Offset: int64(i)}}}
		e.Forward(context.Background(), d, Dead{}, func(err error) {
			if err != nil {
				t.Fatal(err)
			}
			confirmed++
		})
	}
	if confirmed != exportBatch {
		t.Fatalf("confirmed %d before Flush, want the first batch of %d", confirmed, exportBatch)
	}
	b, _ := os.ReadFile(path)
	if got := bytes.Count(b, []byte("\n")); got != exportBatch {
		t.Fatalf("the file holds %d lines when %d were confirmed", got, confirmed)
	}
	if err := e.Flush(context.Background()); err != nil || confirmed != 300 {
		t.Fatalf("after Flush: confirmed %d, err %v", confirmed, err)
	}
	b, _ = os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 300 {
		t.Fatalf("lines = %d", len(lines))
	}
	if _, err := envelope.Decode([]byte(lines[299])); err != nil {
		t.Errorf("export line does not decode: %v", err)
	}
	if e.Last[0] != 299 || e.Last[1] != 300 {
		t.Errorf("Last = %v, want partition 0 -> 299, 1 -> 300", e.Last)
	}
}

// The Nats-Msg-Id of a copy sent into JetStream names the dead letter:
// the same on every read of it (a rerun is de-duplicated by the stream),
// different for a dead letter of the same message that died again (a
// later replay is stored). The message's first id travels in mq-msg-id,
// and the publish conditions of its first publish are dropped.
func TestJetStreamMsgID(t *testing.T) {
	died := time.Unix(1_760_000_000, 0)
	natsDL := func(stream string, seq uint64, hs ...string) *broker.Delivery {
		d := &broker.Delivery{Message: broker.Message{Value: []byte("v"), NATS: broker.NATSMeta{Subject: "dlq.orders", Stream: stream, StreamSeq: seq}}}
		for i := 0; i < len(hs); i += 2 {
			d.Headers = append(d.Headers, broker.Header{Key: hs[i], Value: []byte(hs[i+1])})
			if hs[i] == "Nats-Msg-Id" {
				d.NATS.MsgID = hs[i+1]
			}
		}
		return d
	}
	tests := []struct {
		name    string
		shape   Shape
		source  string
		d       *broker.Delivery
		o       Origin
		wantID  string
		wantHdr string
	}{
		{name: "copy DLQ with an id", shape: Replay, source: "nats",
			d:      natsDL("ORDERS_DLQ", 7, "Nats-Msg-Id", "order-5", "tenant", "eu", "Nats-Expected-Stream", "ORDERS", "Nats-Expected-Last-Sequence", "4"),
			wantID: "order-5:replay:1:ORDERS_DLQ:7", wantHdr: "tenant=eu mq-replay-count=1 mq-msg-id=order-5"},
		{name: "copy DLQ without an id", shape: Replay, source: "nats", d: natsDL("ORDERS_DLQ", 8, "tenant", "eu"),
			wantID: "replay:1:ORDERS_DLQ:8", wantHdr: "tenant=eu mq-replay-count=1"},
		{name: "second replay keeps the first id", shape: Replay, source: "nats",
			d:      natsDL("ORDERS_DLQ", 31, "Nats-Msg-Id", "order-5:replay:1:ORDERS_DLQ:7", "mq-msg-id", "order-5", "mq-replay-count", "1"),
			wantID: "order-5:replay:2:ORDERS_DLQ:31", wantHdr: "mq-replay-count=2 mq-msg-id=order-5"},
		{name: "move keeps the count", shape: AsIs, source: "nats",
			d:      natsDL("ORDERS_DLQ", 9, "Nats-Msg-Id", "order-9", "Nats-Rollup", "sub", "mq-replay-count", "2"),
			wantID: "order-9:move:2:ORDERS_DLQ:9", wantHdr: "mq-replay-count=2 mq-msg-id=order-9"},
		{name: "kafka record", shape: Replay, source: "kafka",
			d:      &broker.Delivery{Message: broker.Message{Destination: "orders.DLT", Kafka: broker.KafkaMeta{Partition: 2, Offset: 40}}},
			wantID: "replay:1:orders.DLT:2:40", wantHdr: "mq-replay-count=1"},
		{name: "rabbitmq dead letter", shape: AsIs, source: "rabbitmq", o: Origin{LastDeath: died, Count: 3},
			d:      &broker.Delivery{Message: broker.Message{AMQP: broker.AMQPMeta{Queue: "work.dlq", MessageID: "m-1"}}},
			wantID: "m-1:move:0:work.dlq:1760000000:3", wantHdr: "mq-msg-id=m-1"},
		{name: "rabbitmq message without id or death", shape: AsIs, source: "rabbitmq",
			d:      &broker.Delivery{Message: broker.Message{AMQP: broker.AMQPMeta{Queue: "work.dlq"}}},
			wantID: "", wantHdr: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &Publisher{Shape: tc.shape, Source: capsByName[tc.source], Target: capsNats, To: "orders.created"}
			m, err := p.message(&tc.d.Message, tc.d, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			var hs []string
			for _, h := range m.Headers {
				hs = append(hs, h.Key+"="+string(h.Value))
			}
			if m.NATS.MsgID != tc.wantID || strings.Join(hs, " ") != tc.wantHdr {
				t.Errorf("id %q headers %q, want %q %q", m.NATS.MsgID, strings.Join(hs, " "), tc.wantID, tc.wantHdr)
			}
			// The same dead letter read again gets the same id.
			again, _ := p.message(&tc.d.Message, tc.d, tc.o)
			if again.NATS.MsgID != m.NATS.MsgID {
				t.Errorf("a rerun would send id %q after %q", again.NATS.MsgID, m.NATS.MsgID)
			}
		})
	}
}

// A filter on the message cannot select an advisory whose message is
// gone; filters on the origin still can.
func TestFilterGoneMessage(t *testing.T) {
	now := time.Now()
	o := Origin{Reason: ReasonMaxDeliveries, Stream: "ORDERS", StreamSeq: 3, LastDeath: now.Add(-time.Hour)}
	for _, tc := range []struct {
		grep, reason string
		older        time.Duration
		want         bool
	}{
		{want: true}, {grep: "x", want: false}, {reason: "max_del", want: true}, {older: time.Minute, want: true},
	} {
		f, err := NewFilter(tc.grep, nil, tc.reason, tc.older, 0, "", now)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Match(nil, o); got != tc.want {
			t.Errorf("grep %q reason %q older %s: Match(nil) = %v", tc.grep, tc.reason, tc.older, got)
		}
	}
	if _, err := NewFilter("", nil, "", time.Hour, 10*time.Minute, "", now); !mqerr.Is(err, mqerr.Usage) {
		t.Errorf("--older-than 1h --newer-than 10m: %v", err)
	}
}

// An advisory read where no NATS server answers for its stream (moved to
// Kafka, say) is not followed: no message, and a usage error saying why;
// other dead letters are returned as they are.
func TestFollowWithoutGetter(t *testing.T) {
	adv := &broker.Message{Value: []byte(`{"type":"io.nats.jetstream.advisory.v1.terminated","stream":"ORDERS","stream_seq":5}`)}
	dead, err := Inspect(context.Background(), "kafka", adv, nil)
	if dead.Message != nil || dead.Gone || !mqerr.Is(err, mqerr.Usage) || !strings.Contains(err.Error(), "ORDERS seq 5") {
		t.Errorf("advisory without a getter: %+v, %v", dead, err)
	}
	plain := &broker.Message{Value: []byte("v"), Headers: []broker.Header{{Key: "mq-death-reason", Value: []byte("boom")}}}
	dead, err = Inspect(context.Background(), "kafka", plain, nil)
	if err != nil || dead.Message != plain || dead.Origin.Reason != "boom" {
		t.Errorf("plain dead letter: %+v, %v", dead, err)
	}
}

// The capabilities the tests need of each driver (internal/dlq does not
// import the drivers).
var (
	capsKafka    = broker.Capabilities{Name: "kafka", DestinationFlag: "topic", PurgeAfterCopy: true, MetaKind: broker.MetaKafka, Flags: map[string][]string{"produce": {"partitioner"}, "dlq": {"group"}}}
	capsRabbitmq = broker.Capabilities{Name: "rabbitmq", DestinationFlag: "queue", PeekMarksRedelivered: true, PeekHolds: true, FilteredPurge: true, MetaKind: broker.MetaAMQP, Flags: map[string][]string{"produce": {"queue"}}}
	capsNats     = broker.Capabilities{Name: "nats", DestinationFlag: "subject", FilteredPurge: true, PurgeAfterCopy: true, MetaKind: broker.MetaNATS}
	capsByName   = map[string]broker.Capabilities{"kafka": capsKafka, "rabbitmq": capsRabbitmq, "nats": capsNats}
)

// A dry run's Check counts each dead letter it would send by where it
// goes: a topic, a subject, a queue through the default exchange, or a
// routing key with its exchange; one it would leave is not counted.
func TestPublisherRoutes(t *testing.T) {
	check := func(p *Publisher, source string, ms ...*broker.Message) {
		t.Helper()
		for _, m := range ms {
			d := &broker.Delivery{Message: *m}
			if err := p.Check(d, Dead{Message: &d.Message, Origin: DecodeOrigin(source, &d.Message)}); err != nil && !errors.Is(err, ErrLeft) {
				t.Fatal(err)
			}
		}
	}
	kafka := func(topic string) *broker.Message {
		return DeadLetter("kafka", &broker.Message{Value: []byte("v"), Destination: topic}, Death{Reason: "boom"})
	}
	routes := &Routes{}
	check(&Publisher{Shape: Replay, Source: capsKafka, Target: capsKafka, Routes: routes}, "kafka",
		kafka("orders"), kafka("orders"), kafka("payments"), &broker.Message{Value: []byte("no origin")})
	if got := routes.Counts(); !maps.Equal(got, map[string]int64{"orders": 2, "payments": 1}) {
		t.Errorf("kafka routes %v", got)
	}
	routes = &Routes{}
	check(&Publisher{Shape: Replay, Source: capsKafka, Target: capsNats, To: "orders.retry", Routes: routes}, "kafka", kafka("orders"))
	if got := routes.Counts(); !maps.Equal(got, map[string]int64{"orders.retry": 1}) {
		t.Errorf("nats routes %v", got)
	}
	// x-death names the queue: back through the default exchange. Our
	// headers without a queue name the exchange and routing key.
	xdeath := &broker.Message{Value: []byte("x"), AMQP: broker.AMQPMeta{Queue: "work.dlq"}, Headers: []broker.Header{{Key: "x-death",
		Value: []byte(`[{"queue":"work","reason":"rejected","exchange":"jobs","routing-keys":["eu"],"count":1}]`)}}}
	routed := &broker.Message{Value: []byte("x"), Headers: []broker.Header{{Key: HeaderOriginalBroker, Value: []byte("rabbitmq")},
		{Key: HeaderOriginalExchange, Value: []byte("jobs")}, {Key: HeaderOriginalRoutingKey, Value: []byte("eu")}}}
	routes = &Routes{}
	check(&Publisher{Shape: Replay, Source: capsRabbitmq, Target: capsRabbitmq, Routes: routes}, "rabbitmq", xdeath, routed)
	if got := routes.Counts(); !maps.Equal(got, map[string]int64{"work": 1, "eu (exchange jobs)": 1}) {
		t.Errorf("rabbitmq routes %v", got)
	}
}
