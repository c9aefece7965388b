package dlq

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/envelope"
	"github.com/mqctl/mqctl/internal/mqerr"
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
	// Source and Target are the broker families of the dead-letter
	// source and of Producer's connection.
	Source, Target string
	// Producer was opened with PerMessageDestination.
	Producer broker.Producer
	// To is where everything goes; "" in Replay shape means each dead
	// letter's origin.
	To string
	// Getter reads the message a JetStream advisory points to.
	Getter broker.MessageGetter
}

// Forward publishes d's message and calls done with the confirm.
func (p *Publisher) Forward(ctx context.Context, d *broker.Delivery, o Origin, done func(error)) {
	src := &d.Message
	if o.Convention == ConventionAdvisory {
		if p.Getter == nil {
			done(mqerr.Usagef("cannot follow a JetStream advisory on %s", p.Source))
			return
		}
		orig, err := p.Getter.GetMessage(ctx, o.Stream, o.StreamSeq)
		if mqerr.Is(err, mqerr.NotFound) {
			done(fmt.Errorf("%w: the message it points to, %s seq %d, was removed by the stream's limits", ErrLeft, o.Stream, o.StreamSeq))
			return
		}
		if err != nil {
			done(err)
			return
		}
		src = orig
		o.Destination = orig.NATS.Subject
	}
	m, err := p.message(src, d, o)
	if err != nil {
		done(err)
		return
	}
	p.Producer.Publish(ctx, m, func(_ broker.Receipt, err error) { done(err) })
}

// Flush waits for the outstanding confirms.
func (p *Publisher) Flush(ctx context.Context) error { return p.Producer.Flush(ctx) }

// message builds what is published for dead letter d (whose message, or
// the message its advisory points to, is src).
func (p *Publisher) message(src *broker.Message, d *broker.Delivery, o Origin) (*broker.Message, error) {
	out := &broker.Message{Key: src.Key, Value: src.Value, Headers: src.Headers, Timestamp: src.Timestamp, Kafka: broker.KafkaMeta{Partition: -1}}
	if p.Shape == Replay {
		out.Headers = StripForReplay(src)
	}
	dest, exchange := p.To, ""
	if dest == "" {
		dest = o.Destination
		if p.Source == "rabbitmq" && dest == "" {
			if ex, key, ok := o.AMQPRoute(); ok {
				exchange, dest = ex, key
			}
		}
	}
	if dest == "" {
		return nil, fmt.Errorf("%w: it does not say where it came from; name a destination with --to", ErrLeft)
	}
	switch p.Target {
	case "kafka":
		out.Destination = dest
	case "rabbitmq":
		a := src.AMQP
		out.AMQP = broker.AMQPMeta{
			Exchange: exchange, RoutingKey: dest, ContentType: a.ContentType, MessageID: a.MessageID,
			CorrelationID: a.CorrelationID, ReplyTo: a.ReplyTo, Priority: a.Priority, Type: a.Type, AppID: a.AppID,
			Persistent: a.Persistent || p.Source != "rabbitmq",
		}
	case "nats":
		out.NATS.Subject = dest
		out.NATS.MsgID = p.msgID(src, d, o)
	}
	return out, nil
}

// msgID is the Nats-Msg-Id of a message sent to JetStream: derived from
// the dead letter, so a replay that is run again after a crash is
// de-duplicated by the stream instead of stored twice, and different from
// the original's, which the stream may still remember.
func (p *Publisher) msgID(src *broker.Message, d *broker.Delivery, o Origin) string {
	base := src.NATS.MsgID
	if base == "" {
		base = src.AMQP.MessageID
	}
	if base == "" {
		switch {
		case d.NATS.StreamSeq > 0:
			base = d.NATS.Stream + ":" + strconv.FormatUint(d.NATS.StreamSeq, 10)
		case p.Source == "kafka":
			base = fmt.Sprintf("%s:%d:%d", d.Destination, d.Kafka.Partition, d.Kafka.Offset)
		default:
			return ""
		}
	}
	if p.Shape == Replay {
		return base + ":replay:" + strconv.Itoa(o.ReplayCount+1)
	}
	return base + ":moved"
}

// SkipFor returns how a dead letter that is passed over is settled so a
// run gets past it while it stays in the source: Kafka commits it (the
// record stays in the log; --from beginning reads it again); RabbitMQ
// rotates it: republished unchanged to the tail of its queue through
// rotate, then acked; JetStream leaves it (the consumer does not ack).
func SkipFor(brokerName string, rotate Forwarder) func(ctx context.Context, d *broker.Delivery) error {
	switch brokerName {
	case "kafka":
		return func(ctx context.Context, d *broker.Delivery) error { return d.Ack(ctx) }
	case "rabbitmq":
		return func(ctx context.Context, d *broker.Delivery) error {
			errc := make(chan error, 1)
			rotate.Forward(ctx, d, Origin{}, func(err error) { errc <- err })
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
// Flush, so a purge never deletes what is not safely exported. Without a
// File it only records positions.
type Exporter struct {
	Broker string
	File   *os.File
	// Batch is how many messages are synced together (default 256). It
	// must not exceed the consumer's prefetch, or a RabbitMQ consumer
	// would wait for acks that wait for the batch.
	Batch int

	mu      sync.Mutex
	w       *bufio.Writer
	pending []func(error)
	// Last holds the position after the last message forwarded per Kafka
	// partition (offset + 1) or JetStream stream (key 0: seq + 1), for a
	// purge that removes exactly what was exported.
	Last map[int32]int64
}

const exportBatch = 256

func (e *Exporter) batch() int {
	if e.Batch > 0 {
		return min(e.Batch, exportBatch)
	}
	return exportBatch
}

// Forward appends d to the file.
func (e *Exporter) Forward(_ context.Context, d *broker.Delivery, _ Origin, done func(error)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.Last == nil {
		e.Last = map[int32]int64{}
	}
	if e.File != nil {
		if e.w == nil {
			e.w = bufio.NewWriterSize(e.File, 256<<10)
		}
		line, err := envelope.Encode(envelope.FromMessage(e.Broker, &d.Message))
		if err == nil {
			_, err = e.w.Write(line)
		}
		if err != nil {
			done(fmt.Errorf("--export: %w", err))
			return
		}
	}
	switch {
	case d.NATS.StreamSeq > 0:
		e.Last[0] = max(e.Last[0], int64(d.NATS.StreamSeq)+1)
	case e.Broker == "kafka":
		e.Last[d.Kafka.Partition] = max(e.Last[d.Kafka.Partition], d.Kafka.Offset+1)
	}
	if e.File == nil {
		done(nil)
		return
	}
	e.pending = append(e.pending, done)
	if len(e.pending) >= e.batch() {
		e.syncLocked()
	}
}

// Flush syncs what was written and confirms it.
func (e *Exporter) Flush(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.syncLocked()
}

func (e *Exporter) syncLocked() error {
	if e.w == nil {
		return nil
	}
	err := e.w.Flush()
	if err == nil {
		err = e.File.Sync()
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

// Discard is the forward step of a purge without --export: the dead
// letter is simply removed.
type Discard struct{}

func (Discard) Forward(_ context.Context, _ *broker.Delivery, _ Origin, done func(error)) { done(nil) }
func (Discard) Flush(context.Context) error                                               { return nil }
