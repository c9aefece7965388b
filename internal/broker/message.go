package broker

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/mqctl/mqctl/internal/mqerr"
)

// Header is one message header. Headers are kept as an ordered list because
// Kafka and NATS allow repeated names and order can matter to consumers.
type Header struct {
	Key   string
	Value []byte
	// Field is the typed value of a RabbitMQ header that is neither a
	// string nor void (see field.go), nil otherwise. Value then holds its
	// text (FieldText), which is what filters, templates and brokers
	// without typed headers see; a RabbitMQ producer sends Field.
	Field any
}

// Message is the one message type every driver produces and consumes.
// Fields that a broker does not have stay zero.
type Message struct {
	Key       []byte
	Value     []byte
	Headers   []Header
	Timestamp time.Time
	// Destination is where the message was read from or is going: a topic,
	// an exchange (or queue, through the default exchange), or a subject.
	Destination string

	Kafka KafkaMeta
	AMQP  AMQPMeta
	NATS  NATSMeta

	// KeyInHeader says the message comes from a broker without keys
	// (RabbitMQ, NATS: read there or from their dump), where a KeyHeader
	// is the key of a Kafka record moved there; see KeyFromHeaders. The
	// routing fields above cannot say it: produce sets them all.
	KeyInHeader bool
}

// KafkaMeta is Kafka's per-record metadata.
type KafkaMeta struct {
	// Partition is -1 when the partitioner should choose.
	Partition int32
	Offset    int64
}

// AMQPMeta is RabbitMQ's per-message metadata and basic properties.
type AMQPMeta struct {
	Exchange      string
	RoutingKey    string
	Queue         string
	DeliveryTag   uint64
	Redelivered   bool
	ContentType   string
	MessageID     string
	CorrelationID string
	ReplyTo       string
	Expiration    string
	Priority      uint8
	Type          string
	AppID         string
	// ContentEncoding and UserID are AMQP properties too. The broker
	// refuses a UserID that is not the connection's user.
	ContentEncoding string
	UserID          string
	// Persistent is delivery mode 2; Transient says the message had
	// delivery mode 1 (or none), which a producer's default of persistent
	// must not override. Both false: not said, the producer decides.
	Persistent bool
	Transient  bool
}

// NATSMeta is NATS's per-message metadata.
type NATSMeta struct {
	Subject      string
	Stream       string
	Consumer     string
	StreamSeq    uint64
	ConsumerSeq  uint64
	NumDelivered uint64
	MsgID        string
}

// Where names a message for the user: where it is and which one, e.g.
// "orders[2]@17", "queue jobs message id-7", "ORDERS seq 9".
func (m *Message) Where() string {
	switch {
	case m.NATS.StreamSeq > 0:
		return fmt.Sprintf("%s seq %d", m.NATS.Stream, m.NATS.StreamSeq)
	case m.AMQP.Queue != "" && m.AMQP.MessageID != "":
		return fmt.Sprintf("queue %s message %s", m.AMQP.Queue, m.AMQP.MessageID)
	case m.AMQP.Queue != "":
		return fmt.Sprintf("queue %s delivery %d", m.AMQP.Queue, m.AMQP.DeliveryTag)
	case m.NATS.Subject != "":
		return "subject " + m.NATS.Subject
	}
	return fmt.Sprintf("%s[%d]@%d", m.Destination, m.Kafka.Partition, m.Kafka.Offset)
}

// HeaderValues returns every value of the headers named key, in order.
func (m *Message) HeaderValues(key string) [][]byte {
	var out [][]byte
	for _, h := range m.Headers {
		if h.Key == key {
			out = append(out, h.Value)
		}
	}
	return out
}

// Verb is how a delivery is settled. Each driver maps the verbs to its
// native ones and documents the ones it cannot honour.
//
// Kafka has no per-record verbs: an acked record's offset is committed
// once every earlier record of its partition was acked or termed (only
// contiguous handled prefixes are committed); Nack leaves a hole, so the
// record and everything after it in its partition come again after a
// restart or rebalance; Term counts as handled (the record is skipped).
// Core NATS has no verbs at all: every settle is a no-op.
type Verb int

const (
	// Ack: handled. Kafka commits the offset, AMQP basic.ack, JetStream
	// +ACK (sent without awaiting a reply; Close flushes them).
	Ack Verb = iota
	// Nack: not handled, deliver again (JetStream: after Delay).
	Nack
	// Term: never deliver again; AMQP reject without requeue (to the DLX),
	// JetStream +TERM (a MSG_TERMINATED advisory), Kafka skip.
	Term
	// InProgress: still working; JetStream +WPI extends the ack wait.
	InProgress
)

func (v Verb) String() string {
	switch v {
	case Ack:
		return "ack"
	case Nack:
		return "nack"
	case Term:
		return "term"
	case InProgress:
		return "in-progress"
	}
	return "unknown"
}

// Settlement is a verb with its options.
type Settlement struct {
	Verb Verb
	// Delay asks for redelivery after a pause (Nack on JetStream only).
	Delay time.Duration
}

// Settler settles one delivery; drivers implement it.
type Settler interface {
	Settle(ctx context.Context, s Settlement) error
}

// Delivery is a message read from a broker, waiting to be settled.
// Settle it at most once. After a successful settle the delivery belongs
// to the driver again and must not be read: the Kafka driver reuses its
// memory for the next records (Key, Value and header values stay valid;
// the Headers slice does not). A failed settle leaves it to the caller.
type Delivery struct {
	Message
	Settler Settler
}

// Ack settles the delivery as handled.
func (d *Delivery) Ack(ctx context.Context) error {
	return d.Settler.Settle(ctx, Settlement{Verb: Ack})
}

// Nack asks for redelivery, after delay when the broker supports it.
func (d *Delivery) Nack(ctx context.Context, delay time.Duration) error {
	return d.Settler.Settle(ctx, Settlement{Verb: Nack, Delay: delay})
}

// Term settles the delivery as never to be delivered again.
func (d *Delivery) Term(ctx context.Context) error {
	return d.Settler.Settle(ctx, Settlement{Verb: Term})
}

// InProgress tells the broker the delivery is still being handled.
func (d *Delivery) InProgress(ctx context.Context) error {
	return d.Settler.Settle(ctx, Settlement{Verb: InProgress})
}

// KeyHeader carries a message key (Kafka's) into a broker that has no
// keys (RabbitMQ, NATS), so moving or restoring a Kafka record there
// does not drop it; KeyHeaderB64 carries, base64-encoded, a key that the
// broker's header values cannot hold. README documents them.
const (
	KeyHeader    = "mq-kafka-key"
	KeyHeaderB64 = "mq-kafka-key-b64"
)

// RedeliveryCountHeaders are the headers a RabbitMQ quorum queue adds to
// a message delivered again and raises at every return, so that the same
// message carries other values each time: x-delivery-count (failed
// deliveries), and from RabbitMQ 4.3 x-acquired-count (every hand-out, a
// hand-back after consumer_timeout too). consume's ack-timeout guard
// leaves them out of what identifies a message; dlq replay drops them.
var RedeliveryCountHeaders = []string{"x-delivery-count", "x-acquired-count"}

// HeadersWithKey returns m's headers for a broker without keys: with a
// KeyHeader holding m.Key added when m has a key (an empty key is
// carried as an empty value, no key as no header); in KeyHeaderB64 when
// fits (nil: any value fits) says the broker cannot carry the key as a
// header value. A message with a key whose headers already hold one of
// the two names cannot carry its key without losing it or the header, so
// it fails with a usage error instead of being sent changed. m is not
// changed.
func HeadersWithKey(m *Message, fits func([]byte) bool) ([]Header, error) {
	if m.Key == nil {
		return m.Headers, nil
	}
	for _, h := range m.Headers {
		if h.Key == KeyHeader || h.Key == KeyHeaderB64 {
			return nil, mqerr.Usagef("key not carried: the message has its own header %q, where a broker without keys would carry it", h.Key)
		}
	}
	key := Header{Key: KeyHeader, Value: m.Key}
	if fits != nil && !fits(m.Key) {
		key = Header{Key: KeyHeaderB64, Value: []byte(base64.StdEncoding.EncodeToString(m.Key))}
	}
	hs := make([]Header, len(m.Headers), len(m.Headers)+1)
	copy(hs, m.Headers)
	return append(hs, key), nil
}

// KeyFromHeaders undoes HeadersWithKey for a broker with keys (Kafka): a
// message marked KeyInHeader (read from RabbitMQ or NATS, or from their
// dump) without a key of its own that carries one KeyHeader, or one KeyHeaderB64
// holding base64, gets that key back (an empty value is an empty key) and
// loses the header, so a Kafka record moved into RabbitMQ or NATS and back
// is the record it was. Otherwise the key and headers are m's as they
// are: a Kafka record (Kafka to Kafka copies it byte for byte) or a new
// message keeps such a header as data, and so does a message with a key
// of its own or whose key headers are more than one or hold null. m is
// not changed.
func KeyFromHeaders(m *Message) (key []byte, headers []Header) {
	if m.Key != nil || !m.KeyInHeader {
		return m.Key, m.Headers
	}
	at := -1
	for i, h := range m.Headers {
		if h.Key == KeyHeader || h.Key == KeyHeaderB64 {
			if at >= 0 {
				return nil, m.Headers
			}
			at = i
		}
	}
	if at < 0 || m.Headers[at].Value == nil {
		return nil, m.Headers
	}
	h := m.Headers[at]
	key = h.Value
	if h.Key == KeyHeaderB64 {
		var err error
		if key, err = base64.StdEncoding.DecodeString(string(h.Value)); err != nil {
			return nil, m.Headers
		}
	}
	if key == nil {
		key = []byte{}
	}
	headers = make([]Header, 0, len(m.Headers)-1)
	headers = append(headers, m.Headers[:at]...)
	return key, append(headers, m.Headers[at+1:]...)
}
