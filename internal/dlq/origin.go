package dlq

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/tracecontext"
)

// The conventions a dead letter's origin can be recorded in.
const (
	// ConventionMqctl: our own mq-original-* and mq-death-* headers.
	ConventionMqctl = "mqctl"
	// ConventionXDeath: RabbitMQ's x-death, x-first-death-*, x-last-death-*.
	ConventionXDeath = "x-death"
	// ConventionSpring: Spring Kafka's kafka_dlt-* headers.
	ConventionSpring = "spring"
	// ConventionConnect: Kafka Connect's __connect.errors.* headers.
	ConventionConnect = "connect"
	// ConventionAdvisory: the body is a JetStream MAX_DELIVERIES or
	// MSG_TERMINATED advisory naming the stream and sequence of the message.
	ConventionAdvisory = "advisory"
)

// Reasons given to JetStream advisories, which carry no reason word of
// their own.
const (
	ReasonMaxDeliveries = "max_deliveries"
	ReasonTerminated    = "terminated"
)

// Header names of the other conventions.
const (
	headerXDeath              = "x-death"
	headerXFirstDeathQueue    = "x-first-death-queue"
	headerXFirstDeathReason   = "x-first-death-reason"
	headerXFirstDeathExchange = "x-first-death-exchange"
	headerXLastDeathQueue     = "x-last-death-queue"
	headerXLastDeathReason    = "x-last-death-reason"

	headerSpringTopic      = "kafka_dlt-original-topic"
	headerSpringPartition  = "kafka_dlt-original-partition"
	headerSpringOffset     = "kafka_dlt-original-offset"
	headerSpringTimestamp  = "kafka_dlt-original-timestamp"
	headerSpringMessage    = "kafka_dlt-exception-message"
	headerSpringFQCN       = "kafka_dlt-exception-fqcn"
	headerSpringKeyMessage = "kafka_dlt-key-exception-message"
	headerSpringKeyFQCN    = "kafka_dlt-key-exception-fqcn"
	springPrefix           = "kafka_dlt-"

	headerConnectTopic     = "__connect.errors.topic"
	headerConnectPartition = "__connect.errors.partition"
	headerConnectOffset    = "__connect.errors.offset"
	headerConnectMessage   = "__connect.errors.exception.message"
	headerConnectClass     = "__connect.errors.exception.class.name"
	connectPrefix          = "__connect.errors."
)

// JetStream advisory types (nats-server's JSConsumerDeliveryExceededAdvisoryType
// and JSConsumerDeliveryTerminatedAdvisoryType).
const (
	advisoryMaxDeliverType = "io.nats.jetstream.advisory.v1.max_deliver"
	advisoryTerminatedType = "io.nats.jetstream.advisory.v1.terminated"
	advisoryTypePrefix     = "io.nats.jetstream.advisory.v1."
)

// Origin says where a dead letter came from and why it died, as far as
// the message tells. What it does not tell stays zero.
type Origin struct {
	// Convention is one of the Convention constants, "" when none matched.
	Convention string `json:"convention,omitempty"`
	// Broker is the broker family the message died on, when known.
	Broker string `json:"broker,omitempty"`
	// Destination is the original topic (Kafka), queue (RabbitMQ) or
	// subject (NATS).
	Destination string `json:"destination,omitempty"`
	// Exchange and RoutingKeys are what the message was first published
	// with on RabbitMQ; AMQPRoute turns them into a replay route.
	Exchange    string   `json:"exchange,omitempty"`
	RoutingKeys []string `json:"routing_keys,omitempty"`
	// Partition and Offset locate the original Kafka record.
	Partition *int32 `json:"partition,omitempty"`
	Offset    *int64 `json:"offset,omitempty"`
	// Stream and StreamSeq locate the original JetStream message.
	Stream    string `json:"stream,omitempty"`
	StreamSeq uint64 `json:"stream_seq,omitempty"`
	// Reason is why it died: an x-death reason (rejected, expired, maxlen,
	// delivery_limit), an exception message (Spring, Connect), our
	// mq-death-reason, or ReasonMaxDeliveries / ReasonTerminated.
	Reason         string `json:"reason,omitempty"`
	ExceptionClass string `json:"exception_class,omitempty"`
	// Count is how often it died (x-death) or was tried (mq-death-count,
	// JetStream deliveries).
	Count      int       `json:"count,omitempty"`
	FirstDeath time.Time `json:"first_death,omitzero"`
	// LastDeath is the newest death time recorded. RabbitMQ keeps the time
	// of the first death of each queue and reason, so for a message that
	// died repeatedly in one queue this is a lower bound.
	LastDeath time.Time `json:"last_death,omitzero"`
	// OriginalTime is when the original message was produced, when known.
	OriginalTime time.Time `json:"original_time,omitzero"`
	// ReplayCount is how often mqctl replayed it already (mq-replay-count).
	ReplayCount int `json:"replay_count,omitempty"`
	// TraceID is the trace id of the message's W3C traceparent, to find
	// the trace that led to the death.
	TraceID string `json:"trace_id,omitempty"`
}

// AMQPRoute returns the exchange and routing key that send a replay of a
// RabbitMQ dead letter back the way it first came: its original exchange
// and first routing key ("" and the queue name for the default exchange).
// ok is false when the origin names no routing key.
func (o Origin) AMQPRoute() (exchange, routingKey string, ok bool) {
	if len(o.RoutingKeys) == 0 {
		return "", "", false
	}
	return o.Exchange, o.RoutingKeys[0], true
}

// DecodeOrigin reads where m, read from a broker of family brokerName,
// came from. The first convention present wins and is read alone, so
// stale fields of an older one never mix in: ours, then RabbitMQ x-death,
// Spring, Kafka Connect, and last a JetStream advisory in the body.
// Malformed fields are left unknown; DecodeOrigin never fails.
func DecodeOrigin(brokerName string, m *broker.Message) Origin {
	var o Origin
	switch {
	case hasHeader(m, isOurDeathHeader):
		decodeMqctl(brokerName, m, &o)
	case hasHeader(m, func(k string) bool {
		return k == headerXDeath || k == headerXFirstDeathQueue || k == headerXLastDeathQueue
	}):
		decodeXDeath(m, &o)
	case hasHeader(m, func(k string) bool { return strings.HasPrefix(k, springPrefix) }):
		decodeSpring(m, &o)
	case hasHeader(m, func(k string) bool { return strings.HasPrefix(k, connectPrefix) }):
		decodeConnect(m, &o)
	default:
		decodeAdvisory(m.Value, &o)
	}
	o.ReplayCount = ReplayCount(m)
	o.TraceID = tracecontext.TraceID(m.Headers)
	return o
}

func decodeMqctl(brokerName string, m *broker.Message, o *Origin) {
	o.Convention = ConventionMqctl
	o.Broker = firstText(m, HeaderOriginalBroker)
	if o.Broker == "" {
		o.Broker = brokerName
	}
	o.Destination = firstText(m, HeaderOriginalDestination)
	if o.Destination == "" {
		o.Destination = firstText(m, HeaderOriginalQueue)
	}
	if o.Destination == "" {
		o.Destination = firstText(m, HeaderOriginalSubject)
	}
	o.Exchange = firstText(m, HeaderOriginalExchange)
	if rk := firstText(m, HeaderOriginalRoutingKey); rk != "" {
		o.RoutingKeys = []string{rk}
	}
	if v, ok := first(m, HeaderOriginalPartition); ok {
		if p, ok := decimal(v, 32); ok {
			p32 := int32(p)
			o.Partition = &p32
		}
	}
	if v, ok := first(m, HeaderOriginalOffset); ok {
		if off, ok := decimal(v, 64); ok {
			o.Offset = &off
		}
	}
	o.Stream = firstText(m, HeaderOriginalStream)
	if seq, err := strconv.ParseUint(firstText(m, HeaderOriginalStreamSeq), 10, 64); err == nil {
		o.StreamSeq = seq
	}
	o.OriginalTime = rfc3339(firstText(m, HeaderOriginalTimestamp))
	o.Reason = lastText(m, HeaderDeathReason)
	// DeadLetter records one death: its time is both the first and last.
	o.FirstDeath = rfc3339(lastText(m, HeaderDeathTime))
	o.LastDeath = o.FirstDeath
	if v, ok := last(m, HeaderDeathCount); ok {
		o.Count = count(v)
	}
	if broker.MetaKindOf(o.Broker) == broker.MetaAMQP {
		defaultExchangeRoute(o)
	}
}

// xDeath is one entry of RabbitMQ's x-death array.
type xDeath struct {
	queue, reason, exchange string
	routingKeys             []string
	count                   int
	time                    time.Time
}

func decodeXDeath(m *broker.Message, o *Origin) {
	o.Convention = ConventionXDeath
	o.Broker = lag.BrokerRabbitMQ
	var deaths []xDeath
	if v, ok := first(m, headerXDeath); ok {
		deaths = parseXDeath(v)
	}
	firstQueue := firstText(m, headerXFirstDeathQueue)
	firstReason := firstText(m, headerXFirstDeathReason)

	// The source queue is where the message first died: the exchange and
	// routing keys of its entry are the ones the producer published with
	// (later entries name dead-letter exchanges).
	var src int
	if firstQueue != "" {
		src = findOldest(deaths, func(d xDeath) bool {
			return d.queue == firstQueue && (firstReason == "" || d.reason == firstReason)
		})
		if src < 0 {
			src = findOldest(deaths, func(d xDeath) bool { return d.queue == firstQueue })
		}
	} else {
		src = earliest(deaths)
	}
	o.Destination = firstQueue
	if src >= 0 {
		s := deaths[src]
		o.Destination = s.queue
		o.Exchange = s.exchange
		o.RoutingKeys = s.routingKeys
		o.Count = s.count
	} else {
		o.Exchange = firstText(m, headerXFirstDeathExchange)
	}
	defaultExchangeRoute(o)

	// The array is newest first: its head is the death that put the
	// message where it is now.
	switch {
	case len(deaths) > 0 && deaths[0].reason != "":
		o.Reason = deaths[0].reason
	case firstText(m, headerXLastDeathReason) != "":
		o.Reason = firstText(m, headerXLastDeathReason)
	default:
		o.Reason = firstReason
	}
	for _, d := range deaths {
		if d.time.IsZero() {
			continue
		}
		if o.FirstDeath.IsZero() || d.time.Before(o.FirstDeath) {
			o.FirstDeath = d.time
		}
		if d.time.After(o.LastDeath) {
			o.LastDeath = d.time
		}
	}
}

// defaultExchangeRoute fills in the routing key of a message published to
// the default exchange, which routes by queue name.
func defaultExchangeRoute(o *Origin) {
	if o.Exchange == "" && len(o.RoutingKeys) == 0 && o.Destination != "" {
		o.RoutingKeys = []string{o.Destination}
	}
}

// findOldest returns the index of the oldest entry matching, or -1.
// Entries are newest first, so it searches from the end.
func findOldest(deaths []xDeath, match func(xDeath) bool) int {
	for i := len(deaths) - 1; i >= 0; i-- {
		if match(deaths[i]) {
			return i
		}
	}
	return -1
}

// earliest returns the entry with the earliest time, or the last entry
// when none has a time, or -1 when there are none. Position alone is not
// enough: RabbitMQ moves an entry to the front when its count grows.
func earliest(deaths []xDeath) int {
	best := len(deaths) - 1
	for i := len(deaths) - 2; i >= 0; i-- {
		t := deaths[i].time
		if !t.IsZero() && (deaths[best].time.IsZero() || t.Before(deaths[best].time)) {
			best = i
		}
	}
	return best
}

// parseXDeath reads the x-death array as the rabbitmq driver renders AMQP
// tables: JSON. Entries that are not objects are skipped and fields of the
// wrong type left zero, so one odd entry does not hide the others.
func parseXDeath(v []byte) []xDeath {
	var entries []json.RawMessage
	if json.Unmarshal(v, &entries) != nil {
		return nil
	}
	deaths := make([]xDeath, 0, len(entries))
	for _, e := range entries {
		var f map[string]json.RawMessage
		if json.Unmarshal(e, &f) != nil || f == nil {
			continue
		}
		deaths = append(deaths, xDeath{
			queue:       jsonString(f["queue"]),
			reason:      jsonString(f["reason"]),
			exchange:    jsonString(f["exchange"]),
			routingKeys: jsonStrings(f["routing-keys"]),
			count:       jsonCount(f["count"]),
			time:        jsonTime(f["time"]),
		})
	}
	return deaths
}

func jsonString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

func jsonStrings(raw json.RawMessage) []string {
	var elems []json.RawMessage
	if json.Unmarshal(raw, &elems) != nil {
		if s := jsonString(raw); s != "" {
			return []string{s}
		}
		return nil
	}
	var out []string
	for _, e := range elems {
		var s string
		if json.Unmarshal(e, &s) == nil {
			out = append(out, s)
		}
	}
	return out
}

// jsonCount accepts a JSON number or a number in a JSON string.
func jsonCount(raw json.RawMessage) int {
	if s := jsonString(raw); s != "" {
		return count([]byte(s))
	}
	return count(raw)
}

// maxUnix is the start of year 10000 in Unix seconds. Later times are not
// timestamps, would overflow when converted, and cannot be written as JSON.
const maxUnix = 253402300800

// jsonTime accepts an AMQP timestamp as JSON seconds (a number or a
// numeric string) or an RFC 3339 string, the two ways a table's time can
// be rendered.
func jsonTime(raw json.RawMessage) time.Time {
	s := jsonString(raw)
	if s == "" {
		s = string(raw)
	}
	if t := rfc3339(s); !t.IsZero() {
		return t
	}
	secs, err := strconv.ParseFloat(s, 64)
	// Written so that NaN fails too.
	if err != nil || !(secs >= 0 && secs < maxUnix) {
		return time.Time{}
	}
	whole, frac := math.Modf(secs)
	return time.Unix(int64(whole), int64(frac*1e9)).UTC()
}

func decodeSpring(m *broker.Message, o *Origin) {
	o.Convention = ConventionSpring
	o.Broker = lag.BrokerKafka
	// Spring appends a new set of original-* headers at every hop through
	// retry topics: the first set names the topic the record started on.
	o.Destination = firstText(m, headerSpringTopic)
	if v, ok := first(m, headerSpringPartition); ok {
		if p, ok := springNumber(v, 4); ok {
			p32 := int32(p)
			o.Partition = &p32
		}
	}
	if v, ok := first(m, headerSpringOffset); ok {
		if off, ok := springNumber(v, 8); ok {
			o.Offset = &off
		}
	}
	if v, ok := first(m, headerSpringTimestamp); ok {
		if ms, ok := springNumber(v, 8); ok && ms < maxUnix*1000 {
			o.OriginalTime = time.UnixMilli(ms).UTC()
		}
	}
	// The exception headers describe the latest failure; a key that failed
	// to deserialize has its own pair.
	o.Reason = lastText(m, headerSpringMessage)
	o.ExceptionClass = lastText(m, headerSpringFQCN)
	if o.Reason == "" && o.ExceptionClass == "" {
		o.Reason = lastText(m, headerSpringKeyMessage)
		o.ExceptionClass = lastText(m, headerSpringKeyFQCN)
	}
}

// springNumber reads a Spring number: a big-endian int of size bytes, or
// decimal text from tolerant writers. Digit-only values are read as text:
// as binary they would be a partition above 800 million or an offset or
// millisecond timestamp above 3*10^18, which no real record has.
func springNumber(v []byte, size int) (int64, bool) {
	if allDigits(v) {
		return decimal(v, size*8)
	}
	var n int64
	switch {
	case size == 4 && len(v) == 4:
		n = int64(int32(binary.BigEndian.Uint32(v)))
	case size == 8 && len(v) == 8:
		n = int64(binary.BigEndian.Uint64(v))
	default:
		return 0, false
	}
	return n, n >= 0
}

func decodeConnect(m *broker.Message, o *Origin) {
	o.Convention = ConventionConnect
	o.Broker = lag.BrokerKafka
	o.Destination = firstText(m, headerConnectTopic)
	if v, ok := first(m, headerConnectPartition); ok {
		if p, ok := decimal(v, 32); ok {
			p32 := int32(p)
			o.Partition = &p32
		}
	}
	if v, ok := first(m, headerConnectOffset); ok {
		if off, ok := decimal(v, 64); ok {
			o.Offset = &off
		}
	}
	o.Reason = lastText(m, headerConnectMessage)
	o.ExceptionClass = lastText(m, headerConnectClass)
}

// decodeAdvisory reads a JetStream advisory body. The original message is
// still in its stream (until limits remove it) at the sequence named.
func decodeAdvisory(v []byte, o *Origin) {
	// Most bodies are not advisories; skip the JSON parse for them.
	if !bytes.Contains(v, []byte(advisoryTypePrefix)) {
		return
	}
	var a struct {
		Type       string          `json:"type"`
		Time       json.RawMessage `json:"timestamp"`
		Stream     string          `json:"stream"`
		StreamSeq  uint64          `json:"stream_seq"`
		Deliveries uint64          `json:"deliveries"`
		Reason     string          `json:"reason"`
	}
	if json.Unmarshal(v, &a) != nil {
		return
	}
	switch a.Type {
	case advisoryMaxDeliverType:
		o.Reason = ReasonMaxDeliveries
	case advisoryTerminatedType:
		o.Reason = ReasonTerminated
		// The consumer may give its own reason with +TERM.
		if a.Reason != "" {
			o.Reason += ": " + a.Reason
		}
	default:
		return
	}
	o.Convention = ConventionAdvisory
	o.Broker = lag.BrokerNATS
	o.Stream = a.Stream
	o.StreamSeq = a.StreamSeq
	o.Count = int(min(a.Deliveries, math.MaxInt32))
	o.FirstDeath = jsonTime(a.Time)
	o.LastDeath = o.FirstDeath
}

// ReplayCount returns how often mqctl replayed m already: its
// mq-replay-count header, 0 when missing or not a count.
func ReplayCount(m *broker.Message) int {
	v, ok := last(m, HeaderReplayCount)
	if !ok {
		return 0
	}
	return count(v)
}

func hasHeader(m *broker.Message, match func(string) bool) bool {
	for _, h := range m.Headers {
		if match(h.Key) {
			return true
		}
	}
	return false
}

func first(m *broker.Message, key string) ([]byte, bool) {
	for _, h := range m.Headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
}

func last(m *broker.Message, key string) ([]byte, bool) {
	for i := len(m.Headers) - 1; i >= 0; i-- {
		if m.Headers[i].Key == key {
			return m.Headers[i].Value, true
		}
	}
	return nil, false
}

func firstText(m *broker.Message, key string) string {
	v, _ := first(m, key)
	return string(v)
}

func lastText(m *broker.Message, key string) string {
	v, _ := last(m, key)
	return string(v)
}

func allDigits(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// decimal reads a non-negative decimal number that fits in bits.
func decimal(v []byte, bits int) (int64, bool) {
	n, err := strconv.ParseInt(string(v), 10, bits)
	return n, err == nil && n >= 0
}

// count reads a non-negative decimal count, 0 when it is not one.
func count(v []byte) int {
	n, ok := decimal(v, 32)
	if !ok {
		return 0
	}
	return int(n)
}

// rfc3339 reads an RFC 3339 time in years 1 to 9999 (a zone offset can
// push a time written in year 9999 or 0000 past them).
func rfc3339(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() < 1 || t.Unix() >= maxUnix {
		return time.Time{}
	}
	return t.UTC()
}
