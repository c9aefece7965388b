package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// Conn is an open connection to one broker (or cluster). Commands ask it for
// the role they need with As.
type Conn interface {
	// Broker names the broker family: "kafka", "rabbitmq" or "nats".
	Broker() string
	Close() error
}

// Destination is one topic, queue or stream as `mqctl ls` shows it.
type Destination struct {
	Context   string `json:"context,omitempty" yaml:"context,omitempty"`
	Broker    string `json:"broker" yaml:"broker"`
	Type      string `json:"type" yaml:"type"` // topic, queue or stream
	Name      string `json:"name" yaml:"name"`
	Messages  int64  `json:"messages" yaml:"messages"`
	Consumers int    `json:"consumers" yaml:"consumers"`

	// Kafka
	Partitions int  `json:"partitions,omitempty" yaml:"partitions,omitempty"`
	Internal   bool `json:"internal,omitempty" yaml:"internal,omitempty"`
	// RabbitMQ
	VHost     string `json:"vhost,omitempty" yaml:"vhost,omitempty"`
	QueueType string `json:"queue_type,omitempty" yaml:"queue_type,omitempty"`
	Ready     *int64 `json:"ready,omitempty" yaml:"ready,omitempty"`
	Unacked   *int64 `json:"unacked,omitempty" yaml:"unacked,omitempty"`
	// JetStream
	Subjects []string `json:"subjects,omitempty" yaml:"subjects,omitempty"`
	Bytes    uint64   `json:"bytes,omitempty" yaml:"bytes,omitempty"`
}

// Lister lists the destinations of a broker.
type Lister interface {
	List(ctx context.Context) ([]Destination, error)
}

// Receipt is the broker's confirmation of one published message.
type Receipt struct {
	// Kafka
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
	// RabbitMQ
	DeliveryTag uint64 `json:"delivery_tag,omitempty"`
	// JetStream
	Stream    string `json:"stream,omitempty"`
	Seq       uint64 `json:"seq,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"`
	// Unconfirmed is true for core NATS: the message was flushed to the
	// server, which never confirms it.
	Unconfirmed bool `json:"unconfirmed,omitempty"`
}

// ProducerOptions tune a Producer. Zero values mean the safe defaults.
type ProducerOptions struct {
	// Destination is the topic (Kafka), exchange (RabbitMQ; "" is the
	// default exchange) or subject (NATS) every message goes to. NewProducer
	// checks it exists and returns an mqerr.NotFound error when it does not.
	Destination string
	// InFlight bounds the messages published but not yet confirmed.
	InFlight int
	// ConfirmTimeout fails a message whose confirm has not come in time.
	ConfirmTimeout time.Duration

	// Kafka: Acks is "all" (default, with the idempotent producer), "1" or
	// "0"; Compression is none, gzip, snappy, lz4 or zstd; Partitioner is
	// "murmur2" (default: keyed records land where the Java client puts
	// them), "round-robin" or "manual" (Message.Kafka.Partition).
	Acks        string
	Compression string
	Partitioner string

	// RabbitMQ: Mandatory makes unroutable messages fail instead of
	// vanishing; Persistent sets delivery mode 2 unless a message says so.
	Mandatory  bool
	Persistent bool
	// RabbitMQ: DestinationIsQueue says Destination names a queue reached
	// through the default exchange (produce --queue Q).
	DestinationIsQueue bool

	// NATS: Core publishes without JetStream: no confirm, only a flush.
	Core bool
}

// Producer publishes asynchronously with a bounded in-flight window.
type Producer interface {
	// Publish hands m to the broker. done is called exactly once, possibly
	// from another goroutine, with the receipt or the reason it failed, so
	// no message is ever dropped unreported. Publish blocks while the
	// in-flight window is full; when ctx ends while it waits, done gets
	// ctx's error. m must not be changed until done was called.
	Publish(ctx context.Context, m *Message, done func(Receipt, error))
	// Flush waits until every message published so far got its done call,
	// or ctx ends.
	Flush(ctx context.Context) error
	// Close releases the producer; messages still in flight fail.
	Close() error
}

// Publisher opens producers.
type Publisher interface {
	NewProducer(ctx context.Context, opts ProducerOptions) (Producer, error)
}

// Consumer yields deliveries until ctx ends or the source is exhausted.
type Consumer interface {
	Next(ctx context.Context) (*Delivery, error)
	Close() error
}

// LagQuery selects what a LagReader reports.
type LagQuery struct {
	// Match selects consumer groups (Kafka), queues (RabbitMQ) or
	// streams (JetStream) by name; nil selects all of them.
	Match func(name string) bool
	// TimeLag asks for the estimated time lag (the age of the oldest
	// unconsumed message), which costs a fetch per lagging partition.
	TimeLag bool
}

// LagReader reports consumer lag and queue depth, one row per Kafka
// group partition, RabbitMQ queue or JetStream consumer, following the
// contract in package lag: Lag is end - committed (Kafka), ready + unacked
// (RabbitMQ), num_pending (JetStream).
type LagReader interface {
	Lag(ctx context.Context, q LagQuery) ([]lag.Row, error)
}

// ErrCannotList is in the error chain of a LagReader (or Lister) that
// cannot enumerate destinations right now but could read them by name,
// as RabbitMQ without its management API reads queues over AMQP.
var ErrCannotList = errors.New("cannot list destinations")

// NamedLagReader reads the lag of destinations named literally: the
// fallback when Lag fails with ErrCannotList.
type NamedLagReader interface {
	LagByName(ctx context.Context, names []string) ([]lag.Row, error)
}

// DeadLetters lists the dead-letter destinations of a broker: RabbitMQ
// queues behind a dead-letter exchange, Kafka topics named like DLQs,
// JetStream streams capturing delivery advisories. `mqctl dlq` (issue 5)
// implements and shapes it further.
type DeadLetters interface {
	DeadLetterDestinations(ctx context.Context) ([]Destination, error)
}

// Purger removes all messages of a destination.
type Purger interface {
	Purge(ctx context.Context, dest string) (removed int64, err error)
}

// As returns conn's implementation of role R, or an mqerr.Unsupported error
// that names the broker and what was asked of it.
func As[R any](conn Conn, what string) (R, error) {
	r, ok := conn.(R)
	if !ok {
		var zero R
		return zero, mqerr.Wrap(mqerr.Unsupported, fmt.Errorf("%s is not supported on %s", what, conn.Broker()))
	}
	return r, nil
}
