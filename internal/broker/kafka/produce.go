package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/broker/inflight"
	"github.com/mqctl/mqctl/internal/mqerr"
)

var _ broker.Publisher = (*Conn)(nil)

// Defaults for the zero ProducerOptions.
const (
	defaultInFlight       = 10000
	defaultConfirmTimeout = 30 * time.Second
)

// producer publishes to one topic through its own kgo client, derived from
// the Conn's so seeds, TLS, SASL and timeouts carry over while the producer
// settings (acks, partitioner, buffer) stay out of the Conn's client.
type producer struct {
	conn   *Conn
	client *kgo.Client
	topic  string
	// perMessage: each message names its topic in Destination.
	perMessage bool
	// manual: every message must name its partition.
	manual bool
	// unconfirmed: acks=0, the broker never answers.
	unconfirmed bool
	// timeout is ProducerOptions.ConfirmTimeout with its default.
	timeout time.Duration
	// maxBytes is the topic's max.message.bytes, 0 when unknown; named in
	// "too large" errors.
	maxBytes int32
	// partitions is the topic's partition count at the start, 0 when
	// unknown: a message to a partition beyond it fails with that reason.
	partitions int32
	// promise is the one kgo promise shared by all records, so Publish
	// does not allocate a closure per message.
	promise func(*kgo.Record, error)

	// gen is the confirm deadline the messages published now share (see
	// deadline); genMu serialises only its renewal.
	gen   atomic.Pointer[generation]
	genMu sync.Mutex

	closed atomic.Bool
	// win is the in-flight window: a slot from Publish until done has
	// returned. kgo's own Flush does not wait for records failed before
	// they were buffered, so Flush and Close also wait for win to empty.
	win *inflight.Window
}

// generationSpan is how long messages share one confirm deadline: a
// message's deadline is ConfirmTimeout to ConfirmTimeout+generationSpan
// after Publish.
const generationSpan = 100 * time.Millisecond

// generation is a confirm deadline shared by the messages published with
// the same ctx until renew.
type generation struct {
	parent context.Context
	ctx    context.Context
	cancel context.CancelFunc
	renew  time.Time
}

// sentRecord is one published message: the record kgo sends, plus what the
// promise needs to answer. It is the record's Context (kgo lets callers put
// their own context there), so one allocation per message carries both and
// the promise finds done without a map or a lock. As a Context it is its
// generation's: the message's confirm deadline, derived from Publish's ctx
// (gen.parent). kgo fails a record whose Context ended before it was sent
// (and, with the idempotent producer, not while its fate at the broker is
// unknown).
type sentRecord struct {
	gen  *generation
	done func(broker.Receipt, error)
	rec  kgo.Record
}

func (s *sentRecord) Deadline() (time.Time, bool) { return s.gen.ctx.Deadline() }
func (s *sentRecord) Done() <-chan struct{}       { return s.gen.ctx.Done() }
func (s *sentRecord) Err() error                  { return s.gen.ctx.Err() }
func (s *sentRecord) Value(key any) any           { return s.gen.ctx.Value(key) }

// NewProducer opens a producer for o.Destination, which must exist: kgo
// would otherwise wait for the topic until the confirm timeout, and the
// sandbox brokers would even create it.
//
// Partitioning: "murmur2" (the default) is kgo's UniformBytesPartitioner
// with keys hashed, which is also kgo's own default. For keyed records it
// calls KafkaHasher(murmur2), the same hasher StickyKeyPartitioner(nil)
// uses (franz-go v1.22.2 pkg/kgo/partitioner.go): Kafka's murmur2 with seed
// 0x9747b28c, the sign bit masked off, modulo the partition count, which is
// Utils.toPositive(Utils.murmur2(key)) % n of the Java client. Unkeyed
// records stick to one partition per 64 KiB like the Java client since 3.3
// (KIP-794). A message with Kafka.Partition >= 0 goes to that partition
// whatever the partitioner; "manual" requires every message to name one.
func (c *Conn) NewProducer(ctx context.Context, o broker.ProducerOptions) (broker.Producer, error) {
	if o.NoConfirm {
		return nil, mqerr.Usagef("kafka: acks 0 is kafka's publishing without confirms")
	}
	opts, p, err := producerOpts(o)
	if err != nil {
		return nil, err
	}
	p.conn = c
	// With PerMessageDestination each record names its topic; a missing
	// one fails that record (UNKNOWN_TOPIC_OR_PARTITION after kgo's
	// metadata retries).
	if !o.PerMessageDestination {
		md, err := c.topicsMetadata(ctx, remaining(ctx), o.Destination)
		if err != nil {
			return nil, err
		}
		p.partitions = int32(len(md.Topics[o.Destination].Partitions))
		// A batch the broker finds too large fails every record in it.
		// Capping batches at the topic's limit makes only an oversized
		// record fail (with MESSAGE_TOO_LARGE) while its neighbours go in
		// other batches.
		if p.maxBytes = c.maxMessageBytes(ctx, o.Destination); p.maxBytes > 0 {
			opts = append(opts, kgo.ProducerBatchMaxBytes(p.maxBytes))
		}
	}
	if p.client, err = kgo.NewClient(append(c.client.Opts(), opts...)...); err != nil {
		return nil, mqerr.Usagef("kafka producer for %s: %v", hostList(c.seeds), err)
	}
	p.promise = p.finish
	return p, nil
}

// producerOpts turns o into kgo options; it fails with a Usage error before
// anything touches the network.
func producerOpts(o broker.ProducerOptions) ([]kgo.Opt, *producer, error) {
	if o.Destination == "" && !o.PerMessageDestination {
		return nil, nil, mqerr.Usagef("kafka producer needs a topic")
	}
	if o.InFlight < 0 {
		return nil, nil, mqerr.Usagef("in-flight window must be positive, got %d", o.InFlight)
	}
	if o.ConfirmTimeout < 0 {
		return nil, nil, mqerr.Usagef("confirm timeout must be positive, got %s", o.ConfirmTimeout)
	}
	p := &producer{topic: o.Destination, perMessage: o.PerMessageDestination}
	inFlight, timeout := o.InFlight, o.ConfirmTimeout
	if inFlight == 0 {
		inFlight = defaultInFlight
	}
	if timeout == 0 {
		timeout = defaultConfirmTimeout
	}
	p.timeout = timeout
	// kgo's buffer bounds the messages in flight: Produce blocks while it
	// is full, and wakes far less often than a window that hands a slot
	// back per promise (with the window as the bound, 1M records took
	// 1.35-1.54 s against 0.88-1.12 s, p50 confirm 10 ms against 5 ms, on
	// the same kfake). win is twice as large, so it only counts, for Flush
	// and Close: kgo counts a record until its promise has returned, a
	// moment after the promise gave the window slot back.
	p.win = inflight.New(2 * inFlight)
	// Not kgo.RecordDeliveryTimeout: kgo measures it from the record's
	// Timestamp, so a message replayed with its original, older timestamp
	// would time out before it was sent. Publish sets a deadline instead.
	opts := []kgo.Opt{kgo.MaxBufferedRecords(inFlight)}
	if !o.PerMessageDestination {
		opts = append(opts, kgo.DefaultProduceTopic(o.Destination))
	}

	switch acksOf(o.Acks) {
	case "all":
		// kgo's default: acks=all with the idempotent producer.
		if o.NoIdempotence {
			opts = append(opts, kgo.DisableIdempotentWrite())
		}
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
		p.unconfirmed = true
	default:
		return nil, nil, mqerr.Usagef("unknown kafka acks %q: want all, 1 or 0", o.Acks)
	}

	var codec kgo.CompressionCodec
	switch o.Compression {
	case "", "none":
		codec = kgo.NoCompression()
	case "gzip":
		codec = kgo.GzipCompression()
	case "snappy":
		codec = kgo.SnappyCompression()
	case "lz4":
		codec = kgo.Lz4Compression()
	case "zstd":
		codec = kgo.ZstdCompression()
	default:
		return nil, nil, mqerr.Usagef("unknown kafka compression %q: want none, gzip, snappy, lz4 or zstd", o.Compression)
	}
	opts = append(opts, kgo.ProducerBatchCompression(codec))
	if o.Linger > 0 {
		opts = append(opts, kgo.ProducerLinger(o.Linger))
	}

	var part kgo.Partitioner
	switch o.Partitioner {
	case "", "murmur2":
		part = pinning{kgo.UniformBytesPartitioner(64<<10, true, true, nil)}
	case "round-robin":
		part = pinning{kgo.RoundRobinPartitioner()}
	case "manual":
		part = kgo.ManualPartitioner()
		p.manual = true
	default:
		return nil, nil, mqerr.Usagef("unknown kafka partitioner %q: want murmur2, round-robin or manual", o.Partitioner)
	}
	opts = append(opts, kgo.RecordPartitioner(part))
	return opts, p, nil
}

// topicExists checks with one metadata request, which does not ask the
// broker to create them, that the topics exist; the error names the first
// that does not.
func (c *Conn) topicExists(ctx context.Context, within time.Duration, topics ...string) error {
	_, err := c.topicsMetadata(ctx, within, topics...)
	return err
}

// topicsMetadata is topicExists that also returns the metadata it read.
func (c *Conn) topicsMetadata(ctx context.Context, within time.Duration, topics ...string) (kadm.Metadata, error) {
	md, err := c.admin.Metadata(ctx, topics...)
	if err != nil {
		return md, c.classify(err, within)
	}
	for _, topic := range topics {
		td, ok := md.Topics[topic]
		switch {
		case !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition):
			return md, mqerr.New(mqerr.NotFound, "topic %q does not exist on kafka at %s", topic, hostList(c.seeds))
		case errors.Is(td.Err, kerr.InvalidTopicException):
			return md, mqerr.Usagef("invalid kafka topic name %q: %v", topic, td.Err)
		case td.Err != nil:
			return md, c.classify(td.Err, within)
		}
	}
	return md, nil
}

// maxMessageBytes is topic's max.message.bytes, or 0 when it cannot be read
// (DescribeConfigs may be denied where producing is allowed): kgo's default
// batch cap then applies.
func (c *Conn) maxMessageBytes(ctx context.Context, topic string) int32 {
	rcs, err := c.admin.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return 0
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		return 0
	}
	for _, cfg := range rc.Configs {
		if cfg.Key != "max.message.bytes" {
			continue
		}
		n, err := strconv.ParseInt(cfg.MaybeValue(), 10, 32)
		// kgo accepts batch caps in [512, 1 GiB].
		if err != nil || n < 512 || n > 1<<30 {
			return 0
		}
		return int32(n)
	}
	return 0
}

// CheckMessage implements broker.MessageChecker: a message to a partition
// the topic does not have would fail.
func (p *producer) CheckMessage(m *broker.Message) error {
	if p.manual && m.Kafka.Partition < 0 {
		return mqerr.Usagef("the manual partitioner needs a partition for every message to topic %q", p.topic)
	}
	if p.partitions > 0 && m.Kafka.Partition >= p.partitions {
		return mqerr.Usagef("partition %d does not exist: topic %q has %d (0 to %d)", m.Kafka.Partition, p.topic, p.partitions, p.partitions-1)
	}
	return nil
}

// Publish takes a window slot and hands m to kgo, which blocks while its
// buffer is full. kgo calls the promise exactly once for every record it
// was given, including when ctx ends while Produce blocks, so done is
// called exactly once either by finish or, for a message refused up
// front, here.
func (p *producer) Publish(ctx context.Context, m *broker.Message, done func(broker.Receipt, error)) {
	if p.closed.Load() {
		done(broker.Receipt{}, mqerr.New(mqerr.Failure, "kafka producer for topic %q is closed", p.topic))
		return
	}
	if p.manual && m.Kafka.Partition < 0 {
		done(broker.Receipt{}, mqerr.Usagef("the manual partitioner needs a partition for every message to topic %q", p.topic))
		return
	}
	topic := p.topic
	if p.perMessage {
		if topic = m.Destination; topic == "" {
			done(broker.Receipt{}, mqerr.Usagef("the message names no kafka topic"))
			return
		}
	}
	if err := p.win.Acquire(ctx); err != nil {
		done(broker.Receipt{}, err)
		return
	}
	now := time.Now()
	in := &sentRecord{gen: p.deadline(ctx, now), done: done}
	r := &in.rec
	r.Context = in
	r.Topic = topic
	// A key carried in a header from RabbitMQ or NATS is a key again.
	key, headers := broker.KeyFromHeaders(m)
	r.Key = key
	r.Value = m.Value
	// kgo would stamp a zero timestamp with its own time.Now.
	r.Timestamp = m.Timestamp
	if r.Timestamp.IsZero() {
		r.Timestamp = now
	}
	r.Partition = m.Kafka.Partition
	if len(headers) > 0 {
		r.Headers = make([]kgo.RecordHeader, len(headers))
		for i, h := range headers {
			r.Headers[i] = kgo.RecordHeader{Key: h.Key, Value: h.Value}
		}
	}
	p.client.Produce(ctx, r, p.promise)
}

// deadline returns a generation whose context ends ConfirmTimeout after
// now, or a little later: a context.WithTimeout per message would cost a
// timer and three allocations, so messages published with the same ctx
// within one generationSpan share one, found without a lock.
func (p *producer) deadline(ctx context.Context, now time.Time) *generation {
	if g := p.gen.Load(); g != nil && g.parent == ctx && now.Before(g.renew) {
		return g
	}
	p.genMu.Lock()
	defer p.genMu.Unlock()
	if g := p.gen.Load(); g != nil && g.parent == ctx && now.Before(g.renew) {
		return g
	}
	// The previous generation's context ends at its deadline; messages
	// still use it, so it is not cancelled here.
	g := &generation{parent: ctx, renew: now.Add(generationSpan)}
	g.ctx, g.cancel = context.WithDeadline(ctx, now.Add(p.timeout+generationSpan))
	p.gen.Store(g)
	return g
}

// finish is the kgo promise: it answers the message's done, then frees its
// window slot. kgo calls promises one at a time from its own goroutine.
func (p *producer) finish(r *kgo.Record, err error) {
	in := r.Context.(*sentRecord)
	if err != nil {
		in.done(broker.Receipt{}, p.failure(in, err))
	} else {
		in.done(broker.Receipt{Partition: r.Partition, Offset: r.Offset, Unconfirmed: p.unconfirmed}, nil)
	}
	p.win.Release(1)
}

// failure turns the error kgo gave a record into one typed line that
// still matches the kgo or kerr error with errors.Is, named by a short
// reason (broker.WithReason) for the summary. The error of Publish's ctx
// is returned as is, so callers can tell an interrupt.
func (p *producer) failure(in *sentRecord, err error) error {
	hosts, topic := hostList(p.conn.seeds), in.rec.Topic
	var ke *kerr.Error
	var out error
	reason := ""
	switch {
	case in.gen.parent.Err() != nil && errors.Is(err, in.gen.parent.Err()):
		return err
	case errors.Is(err, context.DeadlineExceeded):
		out = mqerr.New(mqerr.Failure, "kafka at %s did not confirm the message to topic %q within %s%s", hosts, topic, p.timeout, p.connTrouble())
		reason = "no confirm within " + p.timeout.String()
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		out = mqerr.New(mqerr.NotFound, "topic %q does not exist on kafka at %s (%w)", topic, hosts, err)
	case denied(err):
		out = mqerr.New(mqerr.Auth, "kafka at %s denied writing to topic %q: %w", hosts, topic, err)
	case errors.Is(err, kerr.MessageTooLarge) && p.maxBytes > 0:
		out = mqerr.New(mqerr.Failure, "message too large for topic %q (max.message.bytes %d) on kafka at %s: %w", topic, p.maxBytes, hosts, err)
		reason = fmt.Sprintf("MESSAGE_TOO_LARGE (max.message.bytes %d)", p.maxBytes)
	case errors.Is(err, kgo.ErrClientClosed):
		out = mqerr.New(mqerr.Failure, "kafka producer for topic %q closed before kafka at %s confirmed the message: %w", topic, hosts, err)
		reason = "producer closed before the confirm"
	case errors.As(err, &ke):
		out = mqerr.New(mqerr.Failure, "kafka at %s rejected the message to topic %q: %w", hosts, topic, err)
	case !p.perMessage && p.partitions > 0 && in.rec.Partition >= p.partitions:
		// kgo says "invalid record partitioning choice of 99 from 4 available".
		out = mqerr.New(mqerr.Failure, "partition %d does not exist: topic %q on kafka at %s has %d", in.rec.Partition, topic, hosts, p.partitions)
		reason = fmt.Sprintf("partition %d does not exist (topic has %d)", in.rec.Partition, p.partitions)
	default:
		return p.conn.classify(err, 0)
	}
	if reason == "" && errors.As(err, &ke) {
		reason = ke.Message
	}
	out = broker.Scrub(out, p.conn.secrets...)
	if reason == "" {
		return out
	}
	return broker.WithReason(reason, out)
}

// connTrouble says why the latest connection attempt failed, when it did:
// kgo retries a broker it cannot reach until the deadline, which alone
// would not say why.
func (p *producer) connTrouble() string {
	if connErr, _ := p.conn.probe.errs(); connErr != nil {
		return " (cannot connect: " + reason(connErr) + ")"
	}
	return ""
}

// Flush sends what kgo holds back for batching and waits for every done.
func (p *producer) Flush(ctx context.Context) error {
	if err := p.client.Flush(ctx); err != nil {
		return err
	}
	return p.win.Wait(ctx)
}

// Close closes the producer's client. kgo then fails whatever is still
// buffered or in flight, and Close returns once every done was called.
func (p *producer) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	p.client.Close()
	err := p.win.Wait(context.Background())
	if g := p.gen.Load(); g != nil {
		g.cancel()
	}
	return err
}

// pinning sends a record whose Partition is >= 0 to that partition and
// leaves the others to the wrapped partitioner, so "murmur2" and
// "round-robin" still honour Message.Kafka.Partition.
type pinning struct{ kgo.Partitioner }

func (p pinning) ForTopic(topic string) kgo.TopicPartitioner {
	tp := p.Partitioner.ForTopic(topic)
	// kgo calls PartitionByBackup instead of Partition when the
	// partitioner has it (UniformBytesPartitioner does), so the wrapper
	// must offer exactly the methods the wrapped one has.
	if b, ok := tp.(kgo.TopicBackupPartitioner); ok {
		return pinnedBackup{pinned{tp}, b}
	}
	return pinned{tp}
}

type pinned struct{ kgo.TopicPartitioner }

// RequiresConsistency is true for a pinned record so kgo chooses among all
// partitions, not only the writable ones: the index it gets back is then
// the partition number, and the record waits for its partition rather
// than going elsewhere.
func (p pinned) RequiresConsistency(r *kgo.Record) bool {
	return r.Partition >= 0 || p.TopicPartitioner.RequiresConsistency(r)
}

func (p pinned) Partition(r *kgo.Record, n int) int {
	if r.Partition >= 0 {
		return int(r.Partition)
	}
	return p.TopicPartitioner.Partition(r, n)
}

type pinnedBackup struct {
	pinned
	backup kgo.TopicBackupPartitioner
}

func (p pinnedBackup) PartitionByBackup(r *kgo.Record, n int, it kgo.TopicBackupIter) int {
	if r.Partition >= 0 {
		return int(r.Partition)
	}
	return p.backup.PartitionByBackup(r, n, it)
}

// acksOf reads an acks setting: Kafka's other name for all, -1, and none
// given (kgo's default) are all, so that the producer, a bench plan and
// its parity line agree on what runs.
func acksOf(acks string) string {
	if acks == "" || acks == "-1" {
		return "all"
	}
	return acks
}
