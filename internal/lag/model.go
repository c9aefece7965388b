package lag

import (
	"strconv"
	"time"
)

// Broker names, as in Row.Broker.
const (
	BrokerKafka    = "kafka"
	BrokerRabbitMQ = "rabbitmq"
	BrokerNATS     = "nats"
)

// Row kinds, as in Row.Kind. The kind, not the broker, decides which fields
// apply, so a future broker with partitions reuses KindPartition.
const (
	KindPartition = "partition" // Kafka group × topic × partition
	KindQueue     = "queue"     // RabbitMQ queue
	KindConsumer  = "consumer"  // JetStream stream × consumer
)

// How current a RabbitMQ queue's counts are, as in Row.Stats. The
// management API's figures come from statistics the broker samples every
// few seconds (collect_statistics_interval, 5 s by default), and a queue
// declared a moment ago has none yet.
const (
	// StatsSampled: the management API's figures, as of its last sample.
	StatsSampled = "sampled"
	// StatsAbsent: the API has no figures for the queue yet, so its counts
	// are unknown: the table shows "?", JSON null, Prometheus no sample.
	StatsAbsent = "absent"
	// StatsExact: ready and consumers were read over AMQP (a passive
	// declare) just now, and the API's figures agreed with them; Unacked
	// and the rates are the API's.
	StatsExact = "exact"
	// StatsBehind: ready and consumers were read over AMQP just now and
	// the API's figures were behind them (different, or none yet); Lag,
	// Ready and Consumers are the exact ones, Unacked and the rates the
	// API's, as old as its last sample (0 when it had none).
	StatsBehind = "behind"
	// StatsPartial: ready and consumers were read over AMQP just now
	// because the API could not be reached, so Unacked and the rates are
	// unknown (the table shows "?", JSON leaves them out, Prometheus has
	// no sample) and Lag is the ready count alone: a lower bound.
	StatsPartial = "partial"
)

// What a known TimeLag is measured from, as in Row.TimeLagOf: each broker
// tells the age of a different message.
const (
	// TimeLagNextRecord (Kafka): the timestamp of the next record the
	// group reads, as its producer set it (CreateTime) or the broker when
	// the topic says LogAppendTime.
	TimeLagNextRecord = "next_record_timestamp"
	// TimeLagOldestUnacked (JetStream): the time the server stored the
	// oldest message the consumer has not acknowledged.
	TimeLagOldestUnacked = "oldest_unacked_stored"
	// TimeLagOldestReady (RabbitMQ): the timestamp property the publisher
	// set on the oldest ready message, in whole seconds, as the
	// management API last sampled it. Delivered messages not yet
	// acknowledged may be older; the API does not tell their age.
	TimeLagOldestReady = "oldest_ready_publish_timestamp"
)

// Unknown is the value of Partition, Committed and End when they do not
// apply or are not known. It is -1 rather than 0 because 0 is a real
// partition and a real offset.
const Unknown = -1

// Row is the lag of one partition, queue or consumer. Fields a broker does not
// have keep their "not applicable" value: "" for names, Unknown for
// Partition/Committed/End, 0 for TimeLag/DrainTime (unknown), the zero
// time for LastActive.
//
// Rows are written as JSON and YAML by MarshalJSON/MarshalYAML, not by
// struct tags: whether a zero is data (an empty queue has ready 0, a
// caught-up partition lag 0, the first partition is 0) or "not applicable"
// depends on the value and the Kind, which omitempty cannot express.
type Row struct {
	Context string // mqctl context name; "" when none was used
	Broker  string // BrokerKafka, BrokerRabbitMQ or BrokerNATS
	Kind    string // KindPartition, KindQueue or KindConsumer

	Group     string // Kafka consumer group
	Topic     string // Kafka topic
	Partition int32  // Kafka partition; Unknown otherwise
	Queue     string // RabbitMQ queue
	Stream    string // JetStream stream
	Consumer  string // JetStream consumer

	// Committed is the group's committed offset (Kafka) or the consumer's
	// ack floor stream sequence (JetStream); End is the log end offset or
	// the stream's last sequence. Unknown when not known.
	Committed int64
	End       int64
	// Lag is the work waiting: End - Committed for Kafka, num_pending for
	// JetStream, ready + unacked for RabbitMQ (ready alone when Stats is
	// StatsPartial). It is known unless Stats is StatsAbsent.
	Lag int64

	Member   string        // Kafka group member owning the partition
	ClientID string        // that member's client id
	TimeLag  time.Duration // estimated age of the oldest waiting message; 0 unknown
	// TimeLagOf says what a known TimeLag is measured from
	// (TimeLagNextRecord, TimeLagOldestUnacked, TimeLagOldestReady).
	TimeLagOf string
	State     string // group state (Stable, Empty, …) or queue state (running, idle, …)
	// Stats says how current the counts are (StatsSampled, StatsAbsent,
	// StatsExact, StatsBehind, StatsPartial) where they can be old:
	// RabbitMQ queues.
	// "" elsewhere: Kafka and JetStream counts are read as they are.
	Stats string

	// RabbitMQ queue extras (Kind == KindQueue). Rates are messages per
	// second from the management API.
	Ready       int64
	Unacked     int64
	Consumers   int
	PublishRate float64
	DeliverRate float64
	AckRate     float64
	DrainTime   time.Duration // estimated time to empty the queue; 0 unknown
	// Published, Delivered and Acked are the queue's cumulative counts of
	// messages published to it, delivered from it (to consumers and
	// basic.get) and acknowledged, from the management API
	// (message_stats.publish, deliver_get, ack); nil when it has none (a
	// queue that never saw a message, before its first sample, or a row
	// read over AMQP). Prometheus writes them as counters.
	Published, Delivered, Acked *int64

	// JetStream consumer extras (Kind == KindConsumer).
	AckPending  int64
	Redelivered int64
	Waiting     int64     // pull requests waiting
	LastActive  time.Time // last delivery or ack; zero unknown
}

// Key identifies the row across samples: the same partition, queue or
// consumer gets the same key in every poll. Each part is quoted so names
// containing spaces or quotes cannot make two rows collide.
func (r Row) Key() string {
	// One buffer, not eight quoted strings joined: top and --watch key
	// every row of every poll (50,000 partitions: 400,000 allocations).
	b := make([]byte, 0, 24+len(r.Context)+len(r.Broker)+len(r.Group)+len(r.Stream)+len(r.Queue)+len(r.Topic)+len(r.Consumer))
	for i, s := range []string{r.Context, r.Broker, r.Group, r.Stream, r.Queue, r.Topic} {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendQuote(b, s)
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(r.Partition), 10)
	b = append(b, ' ')
	b = strconv.AppendQuote(b, r.Consumer)
	return string(b)
}

// formatDuration rounds to what a person reads at a glance: whole seconds,
// or milliseconds below one second ("3m2s", "250ms").
func formatDuration(d time.Duration) string {
	if d >= time.Second {
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}

// CountsKnown reports whether the row's counts are known: not a queue the
// management API has no figures for yet.
func (r Row) CountsKnown() bool { return r.Stats != StatsAbsent }

// APIFiguresKnown reports whether a queue row's Unacked and rates are
// known: its counts are known, and they were not read over AMQP alone
// (StatsPartial), which tells ready and consumers only.
func (r Row) APIFiguresKnown() bool { return r.CountsKnown() && r.Stats != StatsPartial }
