package dlq

import (
	"encoding/binary"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/broker"
)

var (
	t0 = time.Date(2026, 3, 1, 9, 15, 0, 0, time.UTC)
	t1 = t0.Add(90 * time.Second)
	t2 = t0.Add(time.Hour)
)

func hdr(k string, v []byte) broker.Header { return broker.Header{Key: k, Value: v} }
func txt(k, v string) broker.Header        { return broker.Header{Key: k, Value: []byte(v)} }

func be32(n int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }
func be64(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

func p32(n int32) *int32 { return &n }
func p64(n int64) *int64 { return &n }

// xDeathJSON renders x-death entries the way the rabbitmq driver renders
// the values amqp091 decodes from the wire: JSON of amqp.Table, with
// counts as int64, times as time.Time and routing keys as []any.
func xDeathJSON(t testing.TB, entries ...amqp.Table) []byte {
	t.Helper()
	arr := make([]any, len(entries))
	for i, e := range entries {
		arr[i] = e
	}
	b, err := json.Marshal(arr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func death(queue, reason, exchange string, count int64, at time.Time, keys ...string) amqp.Table {
	rks := make([]any, len(keys))
	for i, k := range keys {
		rks[i] = k
	}
	// amqp091 gives timestamps in the local zone; the decoder must not care.
	return amqp.Table{"count": count, "exchange": exchange, "queue": queue, "reason": reason,
		"routing-keys": rks, "time": at.In(time.FixedZone("CET", 3600))}
}

func advisory(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func show(o Origin) string {
	b, _ := json.Marshal(o)
	return string(b)
}

func TestDecodeOriginMqctl(t *testing.T) {
	died := Death{Reason: "handler: exit status 3", Time: t2, Count: 5}
	tests := []struct {
		name   string
		broker string
		m      *broker.Message
		want   Origin
	}{{
		name:   "kafka",
		broker: "kafka",
		m: &broker.Message{Value: []byte("v"), Timestamp: t0, Destination: "orders",
			Kafka: broker.KafkaMeta{Partition: 2, Offset: 1234}},
		want: Origin{Convention: "mqctl", Broker: "kafka", Destination: "orders", Partition: p32(2), Offset: p64(1234),
			Reason: "handler: exit status 3", Count: 5, FirstDeath: t2, LastDeath: t2, OriginalTime: t0},
	}, {
		name:   "rabbitmq through an exchange",
		broker: "rabbitmq",
		m: &broker.Message{Value: []byte("v"),
			AMQP: broker.AMQPMeta{Exchange: "orders", RoutingKey: "order.created", Queue: "orders.billing"}},
		want: Origin{Convention: "mqctl", Broker: "rabbitmq", Destination: "orders.billing", Exchange: "orders",
			RoutingKeys: []string{"order.created"}, Reason: "handler: exit status 3", Count: 5, FirstDeath: t2, LastDeath: t2},
	}, {
		name:   "rabbitmq through the default exchange",
		broker: "rabbitmq",
		m:      &broker.Message{Value: []byte("v"), AMQP: broker.AMQPMeta{Queue: "jobs"}},
		want: Origin{Convention: "mqctl", Broker: "rabbitmq", Destination: "jobs", RoutingKeys: []string{"jobs"},
			Reason: "handler: exit status 3", Count: 5, FirstDeath: t2, LastDeath: t2},
	}, {
		name:   "nats jetstream",
		broker: "nats",
		m: &broker.Message{Value: []byte("v"), Timestamp: t1,
			NATS: broker.NATSMeta{Subject: "orders.eu", Stream: "ORDERS", StreamSeq: 77}},
		want: Origin{Convention: "mqctl", Broker: "nats", Destination: "orders.eu", Stream: "ORDERS", StreamSeq: 77,
			Reason: "handler: exit status 3", Count: 5, FirstDeath: t2, LastDeath: t2, OriginalTime: t1},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// What DeadLetter writes is what DecodeOrigin must read back.
			dl := DeadLetter(tt.broker, tt.m, died)
			got := DecodeOrigin(tt.broker, dl)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DecodeOrigin\n got %s\nwant %s", show(got), show(tt.want))
			}
		})
	}
}

func TestDecodeOrigin(t *testing.T) {
	tests := []struct {
		name    string
		broker  string
		headers []broker.Header
		value   []byte
		want    Origin
	}{{
		name:   "no convention",
		broker: "kafka",
		headers: []broker.Header{txt("traceparent", "00-abc-def-01"),
			txt(HeaderReplayCount, "2")},
		value: []byte(`{"id":1}`),
		want:  Origin{ReplayCount: 2},
	}, {
		name:   "mqctl headers without a broker name fall back to the reading broker",
		broker: "nats",
		headers: []broker.Header{txt(HeaderOriginalSubject, "orders.eu"), txt(HeaderDeathReason, "timeout"),
			txt(HeaderOriginalStreamSeq, "9")},
		want: Origin{Convention: "mqctl", Broker: "nats", Destination: "orders.eu", StreamSeq: 9, Reason: "timeout"},
	}, {
		name:   "mqctl malformed numbers and times are left unknown",
		broker: "kafka",
		headers: []broker.Header{txt(HeaderOriginalBroker, "kafka"), txt(HeaderOriginalDestination, "orders"),
			txt(HeaderOriginalPartition, "two"), txt(HeaderOriginalOffset, "-5"),
			txt(HeaderOriginalStreamSeq, "-1"), txt(HeaderOriginalTimestamp, "yesterday"),
			txt(HeaderDeathTime, "1700000000"), txt(HeaderDeathCount, "3.5"), txt(HeaderReplayCount, "x")},
		want: Origin{Convention: "mqctl", Broker: "kafka", Destination: "orders"},
	}, {
		name:   "mqctl partition beyond int32 is unknown",
		broker: "kafka",
		headers: []broker.Header{txt(HeaderOriginalDestination, "orders"),
			txt(HeaderOriginalPartition, "4294967296"), txt(HeaderOriginalOffset, "9223372036854775807")},
		want: Origin{Convention: "mqctl", Broker: "kafka", Destination: "orders", Offset: p64(9223372036854775807)},
	}, {
		name:   "x-death one rejection through the default exchange",
		broker: "rabbitmq",
		headers: []broker.Header{
			txt("x-first-death-exchange", ""), txt("x-first-death-queue", "jobs"), txt("x-first-death-reason", "rejected"),
			hdr("x-death", xDeathJSON(t, death("jobs", "rejected", "", 1, t0, "jobs"))),
		},
		want: Origin{Convention: "x-death", Broker: "rabbitmq", Destination: "jobs", RoutingKeys: []string{"jobs"},
			Reason: "rejected", Count: 1, FirstDeath: t0, LastDeath: t0},
	}, {
		name:   "x-death retry loop: the first-death queue's entry gives the route, the head the reason",
		broker: "rabbitmq",
		headers: []broker.Header{
			txt("x-first-death-exchange", "orders"), txt("x-first-death-queue", "orders.work"),
			txt("x-first-death-reason", "rejected"),
			// work/rejected died again, so RabbitMQ moved it to the front
			// with count 2 and its first time.
			hdr("x-death", xDeathJSON(t,
				death("orders.work", "rejected", "orders", 2, t0, "order.created", "audit"),
				death("orders.retry", "expired", "orders.dlx", 1, t1, "order.created"))),
			txt("x-last-death-queue", "orders.work"), txt("x-last-death-reason", "rejected"),
			txt("x-last-death-exchange", "orders.dlx"),
		},
		want: Origin{Convention: "x-death", Broker: "rabbitmq", Destination: "orders.work", Exchange: "orders",
			RoutingKeys: []string{"order.created", "audit"}, Reason: "rejected", Count: 2, FirstDeath: t0, LastDeath: t1},
	}, {
		name:   "x-death without x-first-death headers: the earliest entry is the source",
		broker: "rabbitmq",
		headers: []broker.Header{hdr("x-death", xDeathJSON(t,
			death("parking", "maxlen", "dlx2", 1, t2, "k"),
			death("work", "rejected", "orders", 4, t0, "order.paid"),
			death("retry", "expired", "dlx", 3, t1, "order.paid")))},
		want: Origin{Convention: "x-death", Broker: "rabbitmq", Destination: "work", Exchange: "orders",
			RoutingKeys: []string{"order.paid"}, Reason: "maxlen", Count: 4, FirstDeath: t0, LastDeath: t2},
	}, {
		name:   "x-death without times: the last entry is the oldest",
		broker: "rabbitmq",
		headers: []broker.Header{hdr("x-death", []byte(
			`[{"queue":"b","reason":"expired","exchange":"dlx","routing-keys":["k"],"count":1},`+
				`{"queue":"a","reason":"rejected","exchange":"ex","routing-keys":["k"],"count":1}]`))},
		want: Origin{Convention: "x-death", Broker: "rabbitmq", Destination: "a", Exchange: "ex",
			RoutingKeys: []string{"k"}, Reason: "expired", Count: 1},
	}, {
		name:   "x-death time as JSON seconds and count as text",
		broker: "rabbitmq",
		headers: []broker.Header{txt("x-first-death-queue", "q"), hdr("x-death", []byte(
			`[{"count":"7","exchange":"ex","queue":"q","reason":"delivery_limit","routing-keys":["rk"],"time":1772356500}]`))},
		want: Origin{Convention: "x-death", Broker: "rabbitmq", Destination: "q", Exchange: "ex", RoutingKeys: []string{"rk"},
			Reason: "delivery_limit", Count: 7, FirstDeath: time.Unix(1772356500, 0).UTC(), LastDeath: time.Unix(1772356500, 0).UTC()},
	}, {
		name:   "x-death time as fractional seconds in a string",
		broker: "rabbitmq",
		headers: []broker.Header{hdr("x-death", []byte(
			`[{"count":1,"exchange":"","queue":"q","reason":"expired","routing-keys":["q"],"time":"1772356500.5"}]`))},
		want: Origin{Convention: "x-death", Broker: "rabbitmq", Destination: "q", RoutingKeys: []string{"q"}, Reason: "expired",
			Count: 1, FirstDeath: time.Unix(1772356500, 5e8).UTC(), LastDeath: time.Unix(1772356500, 5e8).UTC()},
	}, {
		name:   "x-death times that are not times",
		broker: "rabbitmq",
		headers: []broker.Header{hdr("x-death", []byte(
			`[{"queue":"a","time":"NaN"},{"queue":"b","time":"-Inf"},{"queue":"c","time":1e300},{"queue":"d","time":-1},`+
				`{"queue":"e","time":"10000-01-01T00:00:00Z"},{"queue":"f","time":"9999-12-31T23:59:59-01:00"}]`))},
		want: Origin{Convention: "x-death", Broker: "rabbitmq", Destination: "f", RoutingKeys: []string{"f"}},
	}, {
		name:   "x-death bad JSON falls back to x-first-death headers",
		broker: "rabbitmq",
		headers: []broker.Header{txt("x-death", `[{"count":1,"queue":"jobs"`),
			txt("x-first-death-queue", "jobs"), txt("x-first-death-reason", "expired"), txt("x-first-death-exchange", "")},
		want: Origin{Convention: "x-death", Broker: "rabbitmq", Destination: "jobs", RoutingKeys: []string{"jobs"}, Reason: "expired"},
	}, {
		name:   "x-death as a republished string: the exchange alone gives no routing key",
		broker: "rabbitmq",
		headers: []broker.Header{txt("x-death", "[{count=1, queue=jobs}]"),
			txt("x-first-death-queue", "jobs"), txt("x-first-death-reason", "rejected"), txt("x-first-death-exchange", "events"),
			txt("x-last-death-reason", "maxlen")},
		want: Origin{Convention: "x-death", Broker: "rabbitmq", Destination: "jobs", Exchange: "events", Reason: "maxlen"},
	}, {
		name:   "x-death entries of the wrong shape are skipped, fields of the wrong type left empty",
		broker: "rabbitmq",
		headers: []broker.Header{hdr("x-death", []byte(
			`[1,"x",null,{"queue":"q","reason":7,"exchange":["e"],"routing-keys":"only","count":-3,"time":"noon"}]`))},
		want: Origin{Convention: "x-death", Broker: "rabbitmq", Destination: "q", RoutingKeys: []string{"only"}},
	}, {
		name:   "x-death first-death queue missing from the array: queue known, route from the header",
		broker: "rabbitmq",
		headers: []broker.Header{txt("x-first-death-queue", "gone"), txt("x-first-death-exchange", "ex"),
			hdr("x-death", xDeathJSON(t, death("other", "expired", "dlx", 1, t1, "k")))},
		want: Origin{Convention: "x-death", Broker: "rabbitmq", Destination: "gone", Exchange: "ex", Reason: "expired",
			FirstDeath: t1, LastDeath: t1},
	}, {
		name:   "x-death first-death queue matched on queue when the reason differs",
		broker: "rabbitmq",
		headers: []broker.Header{txt("x-first-death-queue", "q"), txt("x-first-death-reason", "maxlen"),
			hdr("x-death", xDeathJSON(t, death("q", "expired", "ex", 2, t1, "k2"), death("q", "rejected", "ex", 1, t0, "k1")))},
		want: Origin{Convention: "x-death", Broker: "rabbitmq", Destination: "q", Exchange: "ex", RoutingKeys: []string{"k1"},
			Reason: "expired", Count: 1, FirstDeath: t0, LastDeath: t1},
	}, {
		name:   "spring as Spring writes it: binary partition, offset and timestamp",
		broker: "kafka",
		headers: []broker.Header{txt("__TypeId__", "com.example.Order"),
			txt("kafka_dlt-exception-fqcn", "org.springframework.kafka.listener.ListenerExecutionFailedException"),
			txt("kafka_dlt-exception-cause-fqcn", "java.lang.IllegalStateException"),
			txt("kafka_dlt-exception-message", "Listener failed; nested exception is java.lang.IllegalStateException: bad order"),
			txt("kafka_dlt-exception-stacktrace", "java.lang.IllegalStateException: bad order\n\tat ..."),
			txt("kafka_dlt-original-topic", "orders"), hdr("kafka_dlt-original-partition", be32(3)),
			hdr("kafka_dlt-original-offset", be64(1<<40)), hdr("kafka_dlt-original-timestamp", be64(t0.UnixMilli())),
			txt("kafka_dlt-original-timestamp-type", "CreateTime"), txt("kafka_dlt-original-consumer-group", "billing")},
		want: Origin{Convention: "spring", Broker: "kafka", Destination: "orders", Partition: p32(3), Offset: p64(1 << 40),
			Reason:         "Listener failed; nested exception is java.lang.IllegalStateException: bad order",
			ExceptionClass: "org.springframework.kafka.listener.ListenerExecutionFailedException", OriginalTime: t0},
	}, {
		name:   "spring binary values whose bytes are not all digits",
		broker: "kafka",
		headers: []broker.Header{txt("kafka_dlt-original-topic", "t"), hdr("kafka_dlt-original-partition", be32(0x31)),
			hdr("kafka_dlt-original-offset", be64(0x3132))},
		want: Origin{Convention: "spring", Broker: "kafka", Destination: "t", Partition: p32(0x31), Offset: p64(0x3132)},
	}, {
		name:   "spring partition and offset as text digits",
		broker: "kafka",
		headers: []broker.Header{txt("kafka_dlt-original-topic", "orders"), txt("kafka_dlt-original-partition", "3"),
			txt("kafka_dlt-original-offset", "12345678"), txt("kafka_dlt-original-timestamp", "1772356500000")},
		want: Origin{Convention: "spring", Broker: "kafka", Destination: "orders", Partition: p32(3), Offset: p64(12345678),
			OriginalTime: time.UnixMilli(1772356500000).UTC()},
	}, {
		name:   "spring wrong byte lengths and negative values are unknown",
		broker: "kafka",
		headers: []broker.Header{txt("kafka_dlt-original-topic", "orders"), hdr("kafka_dlt-original-partition", []byte{0, 0, 3}),
			hdr("kafka_dlt-original-offset", be32(42)), hdr("kafka_dlt-original-timestamp", []byte{1, 2, 3, 4, 5, 6, 7})},
		want: Origin{Convention: "spring", Broker: "kafka", Destination: "orders"},
	}, {
		name:   "spring negative binary partition and offset are unknown",
		broker: "kafka",
		headers: []broker.Header{txt("kafka_dlt-original-topic", "orders"), hdr("kafka_dlt-original-partition", be32(-1)),
			hdr("kafka_dlt-original-offset", be64(-1)), hdr("kafka_dlt-original-timestamp", []byte{})},
		want: Origin{Convention: "spring", Broker: "kafka", Destination: "orders"},
	}, {
		name:   "spring retry topics: the first original-* set is where the record started",
		broker: "kafka",
		headers: []broker.Header{
			txt("kafka_dlt-original-topic", "orders"), hdr("kafka_dlt-original-partition", be32(0)),
			hdr("kafka_dlt-original-offset", be64(10)),
			txt("kafka_dlt-exception-message", "first failure"),
			txt("kafka_dlt-original-topic", "orders-retry-0"), hdr("kafka_dlt-original-partition", be32(1)),
			hdr("kafka_dlt-original-offset", be64(5)),
			txt("kafka_dlt-exception-message", "second failure"),
			hdr("retry_topic-attempts", be32(3))},
		want: Origin{Convention: "spring", Broker: "kafka", Destination: "orders", Partition: p32(0), Offset: p64(10),
			Reason: "second failure"},
	}, {
		name:   "spring key deserialization failure",
		broker: "kafka",
		headers: []broker.Header{txt("kafka_dlt-original-topic", "orders"),
			txt("kafka_dlt-key-exception-fqcn", "org.apache.kafka.common.errors.SerializationException"),
			txt("kafka_dlt-key-exception-message", "Unknown magic byte!")},
		want: Origin{Convention: "spring", Broker: "kafka", Destination: "orders", Reason: "Unknown magic byte!",
			ExceptionClass: "org.apache.kafka.common.errors.SerializationException"},
	}, {
		name:   "kafka connect",
		broker: "kafka",
		headers: []broker.Header{txt("__connect.errors.topic", "pg.public.orders"), txt("__connect.errors.partition", "4"),
			txt("__connect.errors.offset", "98765"), txt("__connect.errors.connector.name", "jdbc-sink"),
			txt("__connect.errors.task.id", "0"), txt("__connect.errors.stage", "VALUE_CONVERTER"),
			txt("__connect.errors.class.name", "org.apache.kafka.connect.json.JsonConverter"),
			txt("__connect.errors.exception.class.name", "org.apache.kafka.connect.errors.DataException"),
			txt("__connect.errors.exception.message", "Converting byte[] to Kafka Connect data failed due to serialization error: "),
			txt("__connect.errors.exception.stacktrace", "org.apache.kafka.connect.errors.DataException: ...")},
		want: Origin{Convention: "connect", Broker: "kafka", Destination: "pg.public.orders", Partition: p32(4), Offset: p64(98765),
			Reason:         "Converting byte[] to Kafka Connect data failed due to serialization error: ",
			ExceptionClass: "org.apache.kafka.connect.errors.DataException"},
	}, {
		name:   "kafka connect malformed partition and offset",
		broker: "kafka",
		headers: []broker.Header{txt("__connect.errors.topic", "t"), hdr("__connect.errors.partition", be32(4)),
			txt("__connect.errors.offset", "")},
		want: Origin{Convention: "connect", Broker: "kafka", Destination: "t"},
	}, {
		name:   "jetstream max deliveries advisory",
		broker: "nats",
		value: advisory(t, server.JSConsumerDeliveryExceededAdvisory{
			TypedEvent: server.TypedEvent{Type: server.JSConsumerDeliveryExceededAdvisoryType, ID: "x1", Time: t1},
			Stream:     "ORDERS", Consumer: "billing", StreamSeq: 4711, Deliveries: 5}),
		want: Origin{Convention: "advisory", Broker: "nats", Stream: "ORDERS", StreamSeq: 4711, Reason: "max_deliveries",
			Count: 5, FirstDeath: t1, LastDeath: t1},
	}, {
		name:   "jetstream terminated advisory with the consumer's reason",
		broker: "nats",
		value: advisory(t, server.JSConsumerDeliveryTerminatedAdvisory{
			TypedEvent: server.TypedEvent{Type: server.JSConsumerDeliveryTerminatedAdvisoryType, ID: "x2", Time: t2},
			Stream:     "ORDERS", Consumer: "billing", ConsumerSeq: 9, StreamSeq: 12, Deliveries: 1, Reason: "bad schema"}),
		want: Origin{Convention: "advisory", Broker: "nats", Stream: "ORDERS", StreamSeq: 12, Reason: "terminated: bad schema",
			Count: 1, FirstDeath: t2, LastDeath: t2},
	}, {
		name:   "other advisories are not dead letters",
		broker: "nats",
		value: advisory(t, server.JSConsumerDeliveryNakAdvisory{
			TypedEvent: server.TypedEvent{Type: server.JSConsumerDeliveryNakAdvisoryType, Time: t2}, Stream: "ORDERS", StreamSeq: 3}),
		want: Origin{},
	}, {
		name:   "truncated advisory",
		broker: "nats",
		value:  []byte(`{"type":"io.nats.jetstream.advisory.v1.max_deliver","stream":"ORD`),
		want:   Origin{},
	}, {
		name:   "ours win over x-death",
		broker: "rabbitmq",
		headers: []broker.Header{hdr("x-death", xDeathJSON(t, death("q", "rejected", "", 1, t0, "q"))),
			txt(HeaderOriginalBroker, "rabbitmq"), txt(HeaderOriginalDestination, "q2"), txt(HeaderOriginalExchange, "ex2"),
			txt(HeaderOriginalRoutingKey, "rk2")},
		want: Origin{Convention: "mqctl", Broker: "rabbitmq", Destination: "q2", Exchange: "ex2", RoutingKeys: []string{"rk2"}},
	}, {
		name:   "x-death wins over spring, spring over connect",
		broker: "rabbitmq",
		headers: []broker.Header{txt("__connect.errors.topic", "c"), txt("kafka_dlt-original-topic", "s"),
			txt("x-first-death-queue", "r")},
		want: Origin{Convention: "x-death", Broker: "rabbitmq", Destination: "r", RoutingKeys: []string{"r"}},
	}, {
		name:    "spring wins over connect",
		broker:  "kafka",
		headers: []broker.Header{txt("__connect.errors.topic", "c"), txt("kafka_dlt-original-topic", "s")},
		want:    Origin{Convention: "spring", Broker: "kafka", Destination: "s"},
	}, {
		name:    "headers win over an advisory body",
		broker:  "nats",
		headers: []broker.Header{txt(HeaderDeathReason, "r")},
		value:   []byte(`{"type":"io.nats.jetstream.advisory.v1.max_deliver","stream":"S","stream_seq":1}`),
		want:    Origin{Convention: "mqctl", Broker: "nats", Reason: "r"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &broker.Message{Headers: tt.headers, Value: tt.value}
			got := DecodeOrigin(tt.broker, m)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DecodeOrigin\n got %s\nwant %s", show(got), show(tt.want))
			}
		})
	}
}

func TestAMQPRoute(t *testing.T) {
	tests := []struct {
		name         string
		o            Origin
		wantExchange string
		wantKey      string
		wantOK       bool
	}{
		{"exchange and first routing key", Origin{Exchange: "orders", RoutingKeys: []string{"a", "cc"}}, "orders", "a", true},
		{"default exchange", Origin{Destination: "jobs", RoutingKeys: []string{"jobs"}}, "", "jobs", true},
		{"no routing key", Origin{Destination: "jobs", Exchange: "orders"}, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex, key, ok := tt.o.AMQPRoute()
			if ex != tt.wantExchange || key != tt.wantKey || ok != tt.wantOK {
				t.Errorf("AMQPRoute() = %q, %q, %v; want %q, %q, %v", ex, key, ok, tt.wantExchange, tt.wantKey, tt.wantOK)
			}
		})
	}
}

// decodedHeaders are every header name DecodeOrigin reads.
var decodedHeaders = []string{
	HeaderOriginalBroker, HeaderOriginalDestination, HeaderOriginalPartition, HeaderOriginalOffset,
	HeaderOriginalExchange, HeaderOriginalRoutingKey, HeaderOriginalQueue, HeaderOriginalSubject,
	HeaderOriginalStream, HeaderOriginalStreamSeq, HeaderOriginalTimestamp, HeaderDeathReason,
	HeaderDeathTime, HeaderDeathCount, HeaderReplayCount,
	"x-death", "x-first-death-queue", "x-first-death-reason", "x-first-death-exchange",
	"x-last-death-queue", "x-last-death-reason",
	"kafka_dlt-original-topic", "kafka_dlt-original-partition", "kafka_dlt-original-offset",
	"kafka_dlt-original-timestamp", "kafka_dlt-exception-message", "kafka_dlt-exception-fqcn",
	"kafka_dlt-key-exception-message", "kafka_dlt-key-exception-fqcn",
	"__connect.errors.topic", "__connect.errors.partition", "__connect.errors.offset",
	"__connect.errors.exception.message", "__connect.errors.exception.class.name",
}

// FuzzDecodeOrigin feeds arbitrary bytes to every header DecodeOrigin
// reads, alone and all at once, and to the body: it must never panic nor
// report a negative partition, offset or count.
func FuzzDecodeOrigin(f *testing.F) {
	f.Add(xDeathJSON(f, death("q", "rejected", "ex", 2, t0, "k")), []byte(nil))
	f.Add([]byte(`[{"queue":"q","time":"NaN"}]`), []byte(nil))
	f.Add([]byte(`[{"count":1e400,"time":1e308,"routing-keys":[1,null,"k"]}]`), []byte(nil))
	f.Add(be32(-7), []byte(`{"type":"io.nats.jetstream.advisory.v1.terminated","stream_seq":-1,"timestamp":5}`))
	f.Add(be64(1<<62), advisory(f, server.JSConsumerDeliveryExceededAdvisory{
		TypedEvent: server.TypedEvent{Type: server.JSConsumerDeliveryExceededAdvisoryType, Time: t0},
		Stream:     "S", StreamSeq: 1, Deliveries: 1 << 40}))
	f.Add([]byte("99999999999999999999"), []byte{0xff, 0xfe})
	f.Add([]byte("9999-12-31T23:59:59-23:59"), []byte(`{"type":"io.nats.jetstream.advisory.v1.max_deliver","timestamp":"0000-01-01T00:00:00+01:00"}`))
	f.Fuzz(func(t *testing.T, v, body []byte) {
		var all []broker.Header
		for _, name := range decodedHeaders {
			all = append(all, hdr(name, v))
			check(t, &broker.Message{Headers: []broker.Header{hdr(name, v)}, Value: body})
		}
		check(t, &broker.Message{Headers: all, Value: body})
		check(t, &broker.Message{Value: v})
	})
}

func check(t *testing.T, m *broker.Message) {
	t.Helper()
	o := DecodeOrigin("kafka", m)
	if o.Partition != nil && *o.Partition < 0 || o.Offset != nil && *o.Offset < 0 || o.Count < 0 || o.ReplayCount < 0 {
		t.Fatalf("negative field in %s", show(o))
	}
	if _, err := json.Marshal(o); err != nil {
		t.Fatalf("Origin does not marshal: %v", err)
	}
	StripForReplay(m)
	NewStats(t0).Add(o, o.LastDeath)
}
