package dlq

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/envelope"
)

// Shape says how a forwarded dead letter is sent.
type Shape int

const (
	// Replay sends it back to its origin (or To) as it was first sent:
	// death headers stripped, message id kept, mq-replay-count + 1.
	Replay Shape = iota
	// AsIs sends it to To unchanged, death headers and all: park, move,
	// and the rotation of a skipped RabbitMQ dead letter.
	AsIs
)

// Publisher forwards dead letters by publishing them with confirms.
type Publisher struct {
	Shape Shape
	// Source and Target are what the drivers of the dead-letter source
	// and of Producer's connection say about themselves.
	Source, Target broker.Capabilities
	// Producer was opened with PerMessageDestination; nil in a dry run,
	// which only calls Check.
	Producer broker.Producer
	// To is where everything goes; "" in Replay shape means each dead
	// letter's origin.
	To string
	// Duplicates, when set, counts the messages a JetStream stream
	// confirmed as duplicates: an earlier run had sent them already.
	Duplicates *atomic.Int64
	// Routes, when set, counts by destination the dead letters Check
	// passes: where a dry run would send them.
	Routes *Routes
}

// Forward publishes the message dead stands for and calls done with the
// confirm.
func (p *Publisher) Forward(ctx context.Context, d *broker.Delivery, dead Dead, done func(error)) {
	m, err := p.message(dead.Message, d, dead.Origin)
	if err != nil {
		done(err)
		return
	}
	p.Producer.Publish(ctx, m, func(r broker.Receipt, err error) {
		if err == nil && r.Duplicate && p.Duplicates != nil {
			p.Duplicates.Add(1)
		}
		done(err)
	})
}

// Check returns the error Forward would fail dead with before sending
// anything (ErrLeft when it would be left in place): what a dry run
// reports.
func (p *Publisher) Check(d *broker.Delivery, dead Dead) error {
	m, err := p.message(dead.Message, d, dead.Origin)
	if err == nil && p.Routes != nil {
		p.Routes.add(route(m))
	}
	return err
}

// route names where m is published: the destination, or an AMQP routing
// key with its exchange when that is not the default one.
func route(m *broker.Message) string {
	switch {
	case m.AMQP.RoutingKey != "" && m.AMQP.Exchange != "":
		return m.AMQP.RoutingKey + " (exchange " + m.AMQP.Exchange + ")"
	case m.AMQP.RoutingKey != "":
		return m.AMQP.RoutingKey
	case m.NATS.Subject != "":
		return m.NATS.Subject
	}
	return m.Destination
}

// Flush waits for the outstanding confirms (none in a dry run, which has
// no Producer).
func (p *Publisher) Flush(ctx context.Context) error {
	if p.Producer == nil {
		return nil
	}
	return p.Producer.Flush(ctx)
}

// message builds what is published for dead letter d, whose message (or
// the message its advisory points to) is src.
func (p *Publisher) message(src *broker.Message, d *broker.Delivery, o Origin) (*broker.Message, error) {
	if src == nil {
		return nil, fmt.Errorf("%w: there is no message to send", ErrLeft)
	}
	out := &broker.Message{Key: src.Key, Value: src.Value, Headers: src.Headers, Timestamp: src.Timestamp, Kafka: broker.KafkaMeta{Partition: -1},
		KeyInHeader: p.Source.MetaKind != broker.MetaKafka}
	if p.Shape == Replay {
		out.Headers = StripForReplay(src)
	}
	dest, exchange := p.To, ""
	if dest == "" {
		dest = o.Destination
		// A queue's dead letter goes back the way it first came.
		if p.Source.MetaKind == broker.MetaAMQP && dest == "" {
			if ex, key, ok := o.AMQPRoute(); ok {
				exchange, dest = ex, key
			}
		}
	}
	if dest == "" {
		return nil, fmt.Errorf("%w: it does not say where it came from; name a destination with --to", ErrLeft)
	}
	switch p.Target.MetaKind {
	case broker.MetaAMQP:
		a := src.AMQP
		out.AMQP = broker.AMQPMeta{
			Exchange: exchange, RoutingKey: dest, ContentType: a.ContentType, MessageID: a.MessageID,
			CorrelationID: a.CorrelationID, ReplyTo: a.ReplyTo, Priority: a.Priority, Type: a.Type, AppID: a.AppID,
			ContentEncoding: a.ContentEncoding, UserID: a.UserID,
			Persistent: a.Persistent || p.Source.MetaKind != broker.MetaAMQP,
			Transient:  a.Transient && p.Source.MetaKind == broker.MetaAMQP,
		}
	case broker.MetaNATS:
		id := OriginalID(src)
		out.NATS.Subject = dest
		out.NATS.MsgID = p.msgID(id, d, o, ReplayCount(&broker.Message{Headers: out.Headers}))
		out.Headers = jetStreamHeaders(out.Headers, id)
	default:
		out.Destination = dest
	}
	if p.Target.MetaKind != broker.MetaKafka {
		// A key that its target could not carry (the record has a header
		// of the carrier's name) would stop every rerun at this record:
		// it is left in place, named, and the rest go on.
		if _, err := broker.HeadersWithKey(out, nil); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrLeft, err)
		}
	}
	return out, nil
}

// HeaderMsgID carries the first id of a message that replay or move sent
// into JetStream, where it got a Nats-Msg-Id of its own (see msgID):
// consumers that de-duplicate by message id read it there.
const HeaderMsgID = "mq-msg-id"

// OriginalID is m's first message id: its mq-msg-id (set by an earlier
// replay into JetStream), else its Nats-Msg-Id, else its AMQP message-id;
// "" when it has none.
func OriginalID(m *broker.Message) string {
	if v, ok := last(m, HeaderMsgID); ok && len(v) > 0 {
		return string(v)
	}
	if m.NATS.MsgID != "" {
		return m.NATS.MsgID
	}
	if v, ok := last(m, natsMsgIDHeader); ok && len(v) > 0 {
		return string(v)
	}
	return m.AMQP.MessageID
}

// JetStream publish headers a copy must not carry: its id is set anew,
// and the conditions its first publish was made under (Nats-Expected-*)
// or the purge it ordered (Nats-Rollup) would fail the copy or delete
// other messages.
const (
	natsMsgIDHeader    = "Nats-Msg-Id"
	natsExpectedPrefix = "Nats-Expected-"
	natsRollupHeader   = "Nats-Rollup"
)

// jetStreamHeaders returns hs for a copy published into JetStream: without
// the publish headers above, and with mq-msg-id set to id when there is
// one. hs itself is not changed.
func jetStreamHeaders(hs []broker.Header, id string) []broker.Header {
	out := make([]broker.Header, 0, len(hs)+1)
	for _, h := range hs {
		if h.Key == natsMsgIDHeader || h.Key == natsRollupHeader || h.Key == HeaderMsgID || strings.HasPrefix(h.Key, natsExpectedPrefix) {
			continue
		}
		out = append(out, h)
	}
	if id != "" {
		out = append(out, broker.Header{Key: HeaderMsgID, Value: []byte(id)})
	}
	return out
}

// msgID is the Nats-Msg-Id of a dead letter sent into JetStream, by the
// rule the README states: "<id>:replay:<n>:<dead letter>" (":move:" for a
// move), where id is the message's first id (left out when it has none),
// n the mq-replay-count the copy carries, and the dead letter is named by
// where it sits: its stream and sequence, its topic, partition and
// offset, or on RabbitMQ its queue and the time and count of its death.
// A rerun of an interrupted run sends the same dead letter with the same
// id, which the stream de-duplicates; a message that died again is
// another dead letter with another id, so its replay is never taken for a
// duplicate of the first. It is "" when the message has no id and the
// dead letter no position.
func (p *Publisher) msgID(id string, d *broker.Delivery, o Origin, n int) string {
	verb := "replay"
	if p.Shape == AsIs {
		verb = "move"
	}
	where := deadLetterName(p.Source, d, o)
	if id == "" && where == "" {
		return ""
	}
	parts := make([]string, 0, 4)
	if id != "" {
		parts = append(parts, id)
	}
	parts = append(parts, verb, strconv.Itoa(n))
	if where != "" {
		parts = append(parts, where)
	}
	return strings.Join(parts, ":")
}

// deadLetterName names where dead letter d sits in its source, the same
// on every read of it; "" when the source gives it no such name.
func deadLetterName(source broker.Capabilities, d *broker.Delivery, o Origin) string {
	switch {
	case d.NATS.StreamSeq > 0:
		return d.NATS.Stream + ":" + strconv.FormatUint(d.NATS.StreamSeq, 10)
	case source.MetaKind == broker.MetaKafka:
		return fmt.Sprintf("%s:%d:%d", d.Destination, d.Kafka.Partition, d.Kafka.Offset)
	case source.MetaKind == broker.MetaAMQP && !o.LastDeath.IsZero():
		return fmt.Sprintf("%s:%d:%d", d.AMQP.Queue, o.LastDeath.Unix(), o.Count)
	}
	return ""
}

// SkipFor returns how a dead letter that is passed over is settled so a
// run gets past it while it stays in the source: a source read through a
// consumer group commits it (Kafka: the record stays in the log; --from
// beginning reads it again); a queue whose messages leave as they are
// acked rotates it (RabbitMQ): republished unchanged to the tail of its
// queue through rotate, then acked; a stream whose acks delete leaves it
// (JetStream: the consumer does not ack).
func SkipFor(source broker.Capabilities, rotate Forwarder) func(ctx context.Context, d *broker.Delivery) error {
	switch {
	case readsByGroup(source):
		return func(ctx context.Context, d *broker.Delivery) error { return d.Ack(ctx) }
	case rotates(source):
		return func(ctx context.Context, d *broker.Delivery) error {
			errc := make(chan error, 1)
			rotate.Forward(ctx, d, Dead{Message: &d.Message}, func(err error) { errc <- err })
			if err := <-errc; err != nil {
				return fmt.Errorf("putting it back at the tail of its queue: %w", err)
			}
			return d.Ack(ctx)
		}
	}
	return func(context.Context, *broker.Delivery) error { return nil }
}

// Exporter writes forwarded dead letters to a file as jsonl envelopes and
// confirms them once they are synced to disk, every 256 messages and at
// Flush, so a purge never deletes what is not safely exported. The file
// is created with the first dead letter, so a run that exports nothing
// (it failed before reading, or the source was empty) leaves none.
// Without a Path it only records positions.
type Exporter struct {
	// Source is what the source's driver says about itself.
	Source broker.Capabilities
	// Path is the file to create (mode 0600, never over an existing one:
	// an earlier export may be the only copy left).
	Path string
	// Batch is how many messages are synced together (default 256). It
	// must not exceed the consumer's prefetch, or a RabbitMQ consumer
	// would wait for acks that wait for the batch.
	Batch int

	mu      sync.Mutex
	file    *os.File
	created bool
	synced  bool // the directory entry of file is on disk
	w       *bufio.Writer
	pending []func(error)
	// Last holds the position after the last message forwarded per Kafka
	// partition (offset + 1) or JetStream stream (key 0: seq + 1), for a
	// purge that removes exactly what was exported.
	Last map[int32]int64
	// Subjects are the NATS subjects the exported dead letters were
	// stored under, in order of first appearance, at most maxSubjects.
	Subjects []string
	// Exported counts the dead letters written to the file, WithID those
	// of them that carry a Nats-Msg-Id.
	Exported, WithID int64
}

const (
	exportBatch = 256
	maxSubjects = 100
)

func (e *Exporter) batch() int {
	if e.Batch > 0 {
		return min(e.Batch, exportBatch)
	}
	return exportBatch
}

// Forward appends d to the file.
func (e *Exporter) Forward(_ context.Context, d *broker.Delivery, _ Dead, done func(error)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.Last == nil {
		e.Last = map[int32]int64{}
	}
	if e.Path != "" {
		if err := e.write(d); err != nil {
			done(fmt.Errorf("--export: %w", err))
			return
		}
	}
	switch {
	case d.NATS.StreamSeq > 0:
		e.Last[0] = max(e.Last[0], int64(d.NATS.StreamSeq)+1)
	case e.Source.MetaKind == broker.MetaKafka:
		e.Last[d.Kafka.Partition] = max(e.Last[d.Kafka.Partition], d.Kafka.Offset+1)
	}
	if e.Path == "" {
		done(nil)
		return
	}
	e.pending = append(e.pending, done)
	if len(e.pending) >= e.batch() {
		e.syncLocked()
	}
}

func (e *Exporter) write(d *broker.Delivery) error {
	if e.file == nil {
		f, err := os.OpenFile(e.Path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		e.file, e.w, e.created = f, bufio.NewWriterSize(f, 256<<10), true
	}
	line, err := envelope.Encode(envelope.FromMessage(e.Source.Name, &d.Message))
	if err != nil {
		return err
	}
	if _, err := e.w.Write(line); err != nil {
		return err
	}
	e.Exported++
	if d.NATS.MsgID != "" {
		e.WithID++
	}
	if s := d.NATS.Subject; s != "" && len(e.Subjects) < maxSubjects && !slices.Contains(e.Subjects, s) {
		e.Subjects = append(e.Subjects, s)
	}
	return nil
}

// Flush syncs what was written and confirms it.
func (e *Exporter) Flush(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.syncLocked()
}

// Created reports whether the file was created.
func (e *Exporter) Created() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.created
}

// Close closes the file, after a last Flush.
func (e *Exporter) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.file == nil {
		return nil
	}
	err := e.syncLocked()
	e.w = nil
	if cerr := e.file.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("--export: %w", cerr)
	}
	e.file = nil
	return err
}

func (e *Exporter) syncLocked() error {
	if e.w == nil {
		return nil
	}
	err := e.w.Flush()
	if err == nil {
		err = e.file.Sync()
	}
	if err == nil && !e.synced {
		// A new file survives a crash only once its directory entry does.
		err = syncDir(filepath.Dir(e.Path))
		e.synced = err == nil
	}
	if err != nil {
		err = fmt.Errorf("--export: %w", err)
	}
	for _, done := range e.pending {
		done(err)
	}
	e.pending = e.pending[:0]
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Discard is the forward step of a purge without --export: the dead
// letter is simply removed.
type Discard struct{}

func (Discard) Forward(_ context.Context, _ *broker.Delivery, _ Dead, done func(error)) { done(nil) }
func (Discard) Flush(context.Context) error                                             { return nil }
