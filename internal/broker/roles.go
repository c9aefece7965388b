package broker

import (
	"context"
	"errors"
	"fmt"
	"path"
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
	// Written counts what was ever appended, for rates between two
	// listings: the sum of the partitions' end offsets (Kafka), the last
	// sequence (JetStream); 0 where unknown. Not part of ls's output.
	Written int64 `json:"-" yaml:"-"`
	// Stats says how current the counts are where they can be old
	// (RabbitMQ's management API): lag.StatsSampled, lag.StatsAbsent
	// (counts unknown: messages reads 0, ready and unacked are left out),
	// lag.StatsExact or lag.StatsBehind. "" where counts are read as they
	// are.
	Stats string `json:"stats,omitempty" yaml:"stats,omitempty"`
}

// ListQuery selects what a Lister lists.
type ListQuery struct {
	// Names, when not empty, lists only these destinations (those that
	// exist), read exactly where a listing can be behind the data.
	Names []string
	// Internal includes internal destinations (Kafka's __consumer_offsets).
	// A broker that has none refuses it with an mqerr.Unsupported error.
	Internal bool
}

// Lister lists the destinations of a broker, sorted by name.
type Lister interface {
	List(ctx context.Context, q ListQuery) ([]Destination, error)
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
	// Unconfirmed is true when nothing confirmed the message: core NATS
	// (flushed to the server, which never confirms) and RabbitMQ without
	// publisher confirms (written to the connection).
	Unconfirmed bool `json:"unconfirmed,omitempty"`
	// At is when the driver learned of the confirm, if it settles many
	// messages on one answer (a core NATS flush): one clock read for the
	// batch, and the same time for each of its messages, however long the
	// settling takes. Zero when the driver does not say.
	At time.Time `json:"-"`
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
	// Kafka: Linger waits this long for more records before a batch goes
	// (0: kgo's default, no wait); NoIdempotence turns the idempotent
	// producer off under acks=all (bench --idempotent=false).
	Linger        time.Duration
	NoIdempotence bool

	// RabbitMQ: Mandatory makes unroutable messages fail instead of
	// vanishing; Persistent sets delivery mode 2 unless a message says so.
	Mandatory  bool
	Persistent bool
	// RabbitMQ: DestinationIsQueue says Destination names a queue reached
	// through the default exchange (produce --queue Q).
	DestinationIsQueue bool
	// RabbitMQ: NoConfirm publishes on a channel not in confirm mode
	// (bench --confirm=false): done reports a message once its frames were
	// written to the connection, with Receipt.Unconfirmed, and a channel
	// closed by the broker fails only what is published after it learned
	// so. Not with PerMessageDestination.
	NoConfirm bool

	// NATS: Core publishes without JetStream: no confirm, only a flush.
	Core bool

	// PerMessageDestination sends each message where it says instead of
	// to Destination: Kafka m.Destination (a topic), RabbitMQ
	// m.AMQP.Exchange with m.AMQP.RoutingKey, NATS m.NATS.Subject (which
	// a JetStream stream must capture). A destination that does not exist
	// fails that message through its done call (mqerr.NotFound), not the
	// producer. Replay uses it to send dead letters back where each came
	// from through one producer.
	PerMessageDestination bool
}

// Producer publishes asynchronously with a bounded in-flight window.
type Producer interface {
	// Publish hands m to the broker. done is called exactly once, possibly
	// from another goroutine, with the receipt or the reason it failed, so
	// no message is ever dropped unreported. Publish blocks while the
	// in-flight window is full; when ctx ends while it waits, done gets
	// ctx's error. m must not be changed until done was called.
	Publish(ctx context.Context, m *Message, done func(Receipt, error))
	// Flush waits until nothing is in flight: every message published
	// before the call (and any published while it waits) got its done
	// call; or until ctx ends.
	Flush(ctx context.Context) error
	// Close releases the producer; messages still in flight fail.
	Close() error
}

// Copier is a Producer whose Publish is done with m when it returns: the
// client has copied the message (core NATS writes it into nats.go's
// buffer) and the driver keeps nothing of it. The caller may change m
// at once; done still reports the outcome (and, as on any producer, may
// already have been called when Publish returns). A producer that keeps m
// until the broker answers (franz-go's records, JetStream's pending
// acks) is not one. The load test stamps one hot message instead of
// keeping one per message in flight, which with a window of 65536 spans
// some 30 MiB (BENCHMARKS.md).
type Copier interface {
	CopiesOnPublish() bool
}

// CopiesOnPublish reports whether p is a Copier that says so.
func CopiesOnPublish(p Producer) bool {
	c, ok := p.(Copier)
	return ok && c.CopiesOnPublish()
}

// Publisher opens producers.
type Publisher interface {
	NewProducer(ctx context.Context, opts ProducerOptions) (Producer, error)
}

// StartKind says where a consumer starts reading (Kafka and JetStream).
type StartKind int

const (
	// StartDefault: the stored position of a Kafka group or JetStream
	// durable, falling back to the beginning; the beginning otherwise.
	StartDefault StartKind = iota
	StartBeginning
	StartEnd
	// StartStored: the stored position; the beginning when there is none.
	StartStored
	// StartOffset: Kafka offset N in every partition, or JetStream stream
	// sequence N.
	StartOffset
	// StartLast: the last N messages of each Kafka partition, or of the
	// JetStream stream (or of the filter subject).
	StartLast
	// StartTime: the first message at or after Time.
	StartTime
)

// StartPosition is a StartKind with its argument.
type StartPosition struct {
	Kind StartKind
	N    int64
	Time time.Time
}

// ConsumerOptions say what a Consumer reads and how it settles. Zero
// values mean the safe defaults.
type ConsumerOptions struct {
	// Sources are Kafka topics (one or more), or exactly one RabbitMQ
	// queue, JetStream stream, or NATS subject (Core). NewConsumer returns
	// an mqerr.NotFound error naming a source that does not exist.
	Sources []string

	// Kafka: Group consumes as a member of a consumer group and commits
	// acked offsets; without it partitions are assigned directly (all, or
	// Partitions) and nothing is ever committed.
	Group      string
	Partitions []int32
	// From is where Kafka and JetStream start; RabbitMQ and core NATS
	// ignore it.
	From StartPosition

	// Prefetch bounds deliveries handed out but not yet settled: AMQP
	// basic.qos, JetStream MaxAckPending; Kafka bounds its buffered
	// records by it.
	Prefetch int
	// MultiAck (RabbitMQ) acks in batches: once MultiAck deliveries in a
	// row are acked, one basic.ack with multiple=true acks them all; what
	// is left is acked at Close. It must not exceed Prefetch, or the
	// broker would stop delivering before a batch fills. 0 acks each.
	MultiAck int

	// JetStream: Durable binds to (or creates) this durable consumer;
	// without it an ephemeral consumer is created and removed at Close.
	// FilterSubject narrows the stream.
	Durable       string
	FilterSubject string

	// NATS: Core subscribes to a subject without JetStream (no ack, no
	// redelivery); QueueGroup joins a queue group.
	Core       bool
	QueueGroup string

	// Peek reads without side effects: Kafka commits nothing, JetStream
	// uses an ephemeral consumer with AckNone, RabbitMQ keeps deliveries
	// unacked (so at most Prefetch are seen) and returns them with
	// nack+requeue at Close, which marks them redelivered. Settle is then
	// a no-op.
	Peek bool

	// UntilEnd makes Next return io.EOF once every message that existed
	// when the consumer started was delivered.
	UntilEnd bool

	// AckDeletes (JetStream) makes Ack delete the message from the stream,
	// confirmed by the server, rather than ack a consumer: how a replayed
	// dead letter leaves a DLQ stream. The consumer is an ephemeral one
	// with AckNone; Nack and Term leave the message where it is.
	AckDeletes bool

	// RetryDelays are the delays of a Retrier (consume --on-fail
	// retry=...) for a driver whose waiting places are destinations the
	// consumer reads back: Kafka also reads RetryName(source, delay) for
	// each source and delay, with the group, and hands a record out only
	// when it is due. Drivers whose broker redelivers by itself ignore it.
	RetryDelays []time.Duration

	// Logf, when set, receives warnings the user should see: reconnects,
	// deliveries that will come again, what a verb cannot do here.
	Logf func(format string, args ...any)
}

// Consumer yields deliveries until ctx ends or the source is exhausted.
// Next and Buffered are called from one goroutine; Settle of the
// deliveries may come from others.
type Consumer interface {
	// Next returns the next delivery, waiting until one arrives or ctx
	// ends (ctx's error). It returns io.EOF when UntilEnd was asked and
	// everything was delivered. While the broker is unreachable it
	// reconnects with backoff instead of failing; errors it returns are
	// final (a deleted source, lost permission).
	Next(ctx context.Context) (*Delivery, error)
	// Buffered is how many deliveries Next returns without waiting, so a
	// caller can batch output before it settles.
	Buffered() int
	// Close settles what the driver must at the end (Kafka commits what
	// was acked; RabbitMQ peek returns the held deliveries) and releases
	// the consumer. Unsettled deliveries are redelivered by the broker.
	Close() error
}

// Assignment is implemented by a Consumer that its broker gives a part of
// its source (a Kafka group member's partitions): how many parts it holds
// now, which a health check reports.
type Assignment interface {
	Assigned() int
}

// NoAcker is implemented by a Consumer whose broker has no
// acknowledgement (core NATS): Settle does nothing, so what it delivered
// is reported as delivered, never as acked.
type NoAcker interface {
	NoAck() bool
}

// FetchStopper is implemented by a Consumer that holds deliveries it
// fetched ahead of Next: StopFetching stops fetching and gives back at
// once what it holds and Next has not returned, so that other consumers
// get it while the deliveries already returned are still being handled
// (consume --exec on SIGTERM). Those can still be settled until Close;
// Next returns io.EOF from then on.
type FetchStopper interface {
	StopFetching(ctx context.Context)
}

// FetchPauser is implemented by a Consumer that keeps order per
// partition (Kafka): PauseFetch stops fetching more of the partition d
// was fetched from until resume is called, so that a caller handling
// partitions apart can let a slow one's deliveries wait without holding
// up the others or reading it without bound. Next may still return
// deliveries of that partition fetched before the pause.
//
// FetchedFrom names that partition, which is the one to keep apart and
// in order: it is d's Destination and Kafka.Partition except for a
// record read back from a retry topic, which reads as its origin but
// was fetched from (and is committed in) the retry topic's partition.
type FetchPauser interface {
	FetchedFrom(d *Delivery) (topic string, partition int32)
	PauseFetch(d *Delivery) (resume func())
}

// SettleNoter is implemented by a Consumer whose settles the broker does
// not record, though they must still be made (Kafka without a group
// commits nothing): SettleNote says so in a few words for a summary,
// which then counts no acks; "" when settles are recorded.
type SettleNoter interface {
	SettleNote() string
}

// Subscriber opens consumers.
type Subscriber interface {
	NewConsumer(ctx context.Context, opts ConsumerOptions) (Consumer, error)
}

// ErrStaleDelivery is in the error chain of a Settle whose delivery came
// over a channel, connection or partition assignment that has since
// gone: the broker redelivers it, so nothing is lost, but this settle did
// not happen.
var ErrStaleDelivery = errors.New("delivery is stale: what it came on (channel, connection or partition) is gone, the broker will deliver it again")

// AckTimeout is in the error chain of a stale Settle (beside
// ErrStaleDelivery) when the broker took the delivery back because it
// stayed unsettled longer than the broker's ack timeout (RabbitMQ's
// consumer_timeout): whatever handled it was slower than that limit, and
// will be again when the message comes back unless the limit is raised.
type AckTimeout struct {
	// Limit is the timeout the broker named; 0 when it did not say.
	Limit time.Duration
	// Setting names the limit as the broker calls it ("consumer_timeout").
	Setting string
	// Raise says where to raise it, as a clause that follows "raise":
	// "the node's consumer_timeout (...)".
	Raise string
}

func (e *AckTimeout) Error() string {
	if e.Limit > 0 {
		return fmt.Sprintf("it stayed unacked longer than the broker's ack timeout (%s = %d ms)", e.Setting, e.Limit.Milliseconds())
	}
	return fmt.Sprintf("it stayed unacked longer than the broker's ack timeout (%s)", e.Setting)
}

// StaleChecker is implemented by a Settler that can tell before its
// delivery is handled that it is stale already: what it came on is gone,
// a settle would fail with ErrStaleDelivery, and the broker delivers the
// message again. Stale must not report true for a delivery the broker
// still holds for this consumer: a caller drops such a delivery unhandled
// (consume --exec does, so that what was fetched ahead of a closed
// channel is not handled twice), which then loses nothing.
type StaleChecker interface {
	Stale() bool
}

// IsStale reports whether d is known to be stale (see StaleChecker);
// false when its driver cannot tell. It is a function, not a method of
// Delivery: drivers embed Delivery in their own settler, which would then
// answer for itself by calling itself.
func IsStale(d *Delivery) bool {
	c, ok := d.Settler.(StaleChecker)
	return ok && c.Stale()
}

// LagQuery selects what a LagReader reports.
type LagQuery struct {
	// Match selects consumer groups (Kafka), queues (RabbitMQ) or
	// streams (JetStream) by name; nil selects all of them.
	Match func(name string) bool
	// TimeLag asks for the estimated time lag (the age of the oldest
	// unconsumed message), which costs a fetch per lagging partition.
	TimeLag bool
	// Names are the names given literally (nil with patterns): a reader
	// whose listing can be behind the data reads these exactly.
	Names []string
}

// LagQueryChecker is implemented by a LagReader that cannot honour every
// LagQuery field: CheckLagQuery returns an mqerr.Unsupported error saying
// which and why, without a request, so a command refuses the flag that
// asked for it before reading anything. Lag refuses the same query.
type LagQueryChecker interface {
	CheckLagQuery(q LagQuery) error
}

// LagReader reports consumer lag and queue depth, one row per Kafka
// group partition, RabbitMQ queue or JetStream consumer, following the
// contract in package lag: Lag is end - committed (Kafka), ready + unacked
// (RabbitMQ), num_pending (JetStream).
type LagReader interface {
	Lag(ctx context.Context, q LagQuery) ([]lag.Row, error)
}

// EmptyExplainer is implemented by a connection whose broker can answer
// and still have nothing to list by its setup, not by its data: NATS
// without JetStream has no streams or consumers. When a LagReader returns
// no rows, WhyEmpty returns the error that says why (nil when the listing
// is empty because there is nothing), so that lag does not print an empty
// table and exit 0 on a server that cannot have anything to show.
type EmptyExplainer interface {
	WhyEmpty(ctx context.Context) error
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

// DeadLetterQuery selects dead-letter destinations.
type DeadLetterQuery struct {
	// Patterns are globs (path.Match syntax) for Kafka topics and
	// JetStream streams named like dead-letter queues; nil means
	// DefaultDeadLetterPatterns.
	Patterns []string
	// ScanHeads lets a broker whose dead letters carry a mark of their
	// own read the first message of a destination nothing else names a
	// dead-letter queue, and report it when that message is a dead
	// letter: RabbitMQ's x-death header, in a queue no dead-letter
	// exchange leads to any more. Reading puts the message back marked
	// redelivered, so only destinations nobody consumes are read.
	ScanHeads bool
}

// NameWhy says which pattern name matches, as "name matches P", or ""
// when none does; nil Patterns means DefaultDeadLetterPatterns. A pattern
// that is not a valid glob is a usage error.
func (q DeadLetterQuery) NameWhy(name string) (string, error) {
	patterns := q.Patterns
	if patterns == nil {
		patterns = DefaultDeadLetterPatterns
	}
	for _, p := range patterns {
		ok, err := path.Match(p, name)
		if err != nil {
			return "", mqerr.Usagef("dead-letter pattern %q: %v", p, err)
		}
		if ok {
			return "name matches " + p, nil
		}
	}
	return "", nil
}

// Check refuses patterns that are not valid globs, before any work.
func (q DeadLetterQuery) Check() error {
	for _, p := range q.Patterns {
		if _, err := path.Match(p, ""); err != nil {
			return mqerr.Usagef("dead-letter pattern %q: %v", p, err)
		}
	}
	return nil
}

// DefaultDeadLetterPatterns are the names dead-letter topics and streams
// usually get (Spring's .DLT, and the common dlq spellings).
var DefaultDeadLetterPatterns = []string{"*.DLT", "*-dlt", "*.dlq", "*-dlq", "*.DLQ", "*-DLQ", "dlq.*", "DLQ.*", "*_DLQ", "*_dlq"}

// DeadLetterDestination is one dead-letter queue, topic or stream.
type DeadLetterDestination struct {
	Context  string `json:"context,omitempty" yaml:"context,omitempty"`
	Broker   string `json:"broker" yaml:"broker"`
	Type     string `json:"type" yaml:"type"` // topic, queue or stream
	Name     string `json:"name" yaml:"name"`
	Messages int64  `json:"messages" yaml:"messages"`
	// Oldest is the time of the oldest message, zero when unknown.
	Oldest time.Time `json:"oldest,omitzero" yaml:"oldest,omitempty"`
	// Why says how it was recognised: "dead-letter exchange of orders",
	// "name matches *.DLT", "MSG_TERMINATED advisories of ORDERS".
	Why string `json:"why" yaml:"why"`
	// Advisories is true for a JetStream stream of delivery advisories:
	// its entries point at messages in another stream (stream, stream_seq).
	Advisories bool `json:"advisories,omitempty" yaml:"advisories,omitempty"`
}

// DeadLetters finds the dead-letter destinations of a broker: RabbitMQ
// queues behind a dead-letter exchange (by queue arguments or policy) or
// holding x-death messages, Kafka topics named like DLQs, JetStream
// streams capturing MAX_DELIVERIES / MSG_TERMINATED advisories or named
// like DLQs.
type DeadLetters interface {
	DeadLetterDestinations(ctx context.Context, q DeadLetterQuery) ([]DeadLetterDestination, error)
}

// PurgeRequest says what Purge removes.
type PurgeRequest struct {
	Dest string
	// Before, when not nil, removes only messages before these positions:
	// Kafka partition -> offset, JetStream key 0 -> stream sequence. It is
	// how a purge after --export removes exactly what was exported.
	// RabbitMQ cannot honour it (Usage error).
	Before map[int32]int64
}

// Purger removes every message a destination held when Purge was called
// (or before the positions given): RabbitMQ queue.purge, Kafka
// DeleteRecords up to the end offsets read first, JetStream stream purge
// up to the last sequence read first.
type Purger interface {
	Purge(ctx context.Context, r PurgeRequest) (removed int64, err error)
}

// MessageGetter reads one stored message by its stream sequence: how a
// JetStream advisory's stream + stream_seq leads back to the message. It
// returns an mqerr.NotFound error when limits already removed it.
type MessageGetter interface {
	GetMessage(ctx context.Context, stream string, seq uint64) (*Message, error)
}

// Ender is a connection that can tell it has ended for good: the broker
// closed it (a restart) or the link died, and the driver does not
// reconnect by itself. A long-lived caller (top) opens a new connection
// instead of using it. Drivers that reconnect by themselves leave it out.
type Ender interface {
	Ended() bool
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
