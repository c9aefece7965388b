package consume

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// MaxAckTimeouts is how many times --exec lets the broker take the same
// message back because its handler outlasted the broker's ack timeout
// (broker.AckTimeout: RabbitMQ's consumer_timeout) before the run stops.
// Once can be a slow moment; twice in a row for one message means the
// handler is slower than the limit and would loop forever, running again
// on every redelivery, while the messages behind it wait.
const MaxAckTimeouts = 2

// ackGuard counts, per message, the settles after a handler ran that
// failed with broker.AckTimeout. A redelivery is a new delivery (a new
// tag, and RabbitMQ classic queues count no deliveries), so a message is
// known by its content and where it was read: an exact copy of it counts
// as the same message, which errs towards stopping.
type ackGuard struct {
	seed maphash.Seed
	mu   sync.Mutex
	// timedOut counts the ack timeouts of the messages with one; an entry
	// goes once its message is settled.
	timedOut map[uint64]int
}

// settled records the settle of d after its handler ran (err nil when it
// worked). It returns the ack timeout and how many times d's message had
// it, or nil.
func (g *ackGuard) settled(d *broker.Delivery, err error) (*broker.AckTimeout, int) {
	var at *broker.AckTimeout
	if err != nil && !errors.As(err, &at) {
		return nil, 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if at == nil {
		if len(g.timedOut) > 0 {
			delete(g.timedOut, g.key(&d.Message))
		}
		return nil, 0
	}
	if g.timedOut == nil {
		g.seed = maphash.MakeSeed()
		g.timedOut = make(map[uint64]int)
	}
	k := g.key(&d.Message)
	g.timedOut[k]++
	return at, g.timedOut[k]
}

// key hashes what stays the same when a message is delivered again:
// not the delivery tag, redelivered flag or delivery counts (nor the
// broker.RedeliveryCountHeaders). No other header the broker sets
// changes between two deliveries of one message: x-death and the
// x-first-death-*/x-last-death-* headers change only when the message is
// dead-lettered, and a stream's x-stream-offset is the message's own.
func (g *ackGuard) key(m *broker.Message) uint64 {
	var h maphash.Hash
	h.SetSeed(g.seed)
	field := func(b []byte) {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	str := func(s string) { field([]byte(s)) }
	num := func(v uint64) {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], v)
		h.Write(n[:])
	}
	str(m.Destination)
	field(m.Key)
	field(m.Value)
	for _, hd := range m.Headers {
		if slices.Contains(broker.RedeliveryCountHeaders, hd.Key) {
			continue
		}
		str(hd.Key)
		field(hd.Value)
	}
	num(^uint64(0)) // the headers end
	num(uint64(m.Timestamp.UnixNano()))
	num(uint64(m.Kafka.Partition))
	num(uint64(m.Kafka.Offset))
	str(m.AMQP.Exchange)
	str(m.AMQP.RoutingKey)
	str(m.AMQP.MessageID)
	str(m.AMQP.CorrelationID)
	str(m.NATS.Subject)
	str(m.NATS.Stream)
	num(m.NATS.StreamSeq)
	return h.Sum64()
}

// settleRun settles d after its handler ran, like settle. A settle the
// broker refused because the handler outlasted its ack timeout is
// counted for d's message; at MaxAckTimeouts the run stops (r.halt, as
// --on-fail stop does): nothing more starts, and d's message, which the
// broker took back, stays in the source unacked, as do those fetched
// behind it.
func (r *runner) settleRun(ctx context.Context, d *broker.Delivery, s broker.Settlement) bool {
	err := r.settleErr(ctx, d, s)
	r.countAckTimeout(d, err)
	return err == nil
}

// countAckTimeout records the settle of d after its handler ran, which
// failed with err (nil when it worked), and stops the run at
// MaxAckTimeouts as settleRun says.
func (r *runner) countAckTimeout(d *broker.Delivery, err error) {
	at, n := r.acks.settled(d, err)
	if at != nil && n >= MaxAckTimeouts && r.halt != nil {
		r.halt(mqerr.Wrap(mqerr.Partial, ackTimeoutStop(d, at, n)))
	}
}

// ackTimeoutStop is the run's error when the broker took d's message back
// n times for its ack timeout at: one line naming the source, the limit
// and what to do.
func ackTimeoutStop(d *broker.Delivery, at *broker.AckTimeout, n int) error {
	limit := at.Setting
	if at.Limit > 0 {
		limit = fmt.Sprintf("%s = %d ms", at.Setting, at.Limit.Milliseconds())
	}
	return fmt.Errorf("stopped: %s: the handler outlasted the broker's ack timeout (%s) on the same message %d times, and the broker took the message back each time (it is there again, not acked); raise %s above the handler's longest run, or make the handler faster",
		d.Where(), limit, n, at.Raise)
}
