package nats

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mqctl/mqctl/internal/broker"
)

// coreProducer publishes on core NATS. There is no confirm: a message is
// done once a flush returned, which proves the server read it, not that
// anyone received it.
type coreProducer struct {
	*producer
	// batch holds the done calls of messages sent since the last flush;
	// guarded by mu. spare is the flusher's recycled slice.
	batch   []func(broker.Receipt, error)
	spare   []func(broker.Receipt, error)
	kick    chan struct{}
	flushAt int
}

// newCoreProducer returns p in core mode, flushing after every half
// window; its flusher is not started yet.
func newCoreProducer(p *producer, inFlight int) *coreProducer {
	return &coreProducer{producer: p, kick: make(chan struct{}, 1), flushAt: max(1, inFlight/2)}
}

// Publish implements broker.Producer.
func (p *coreProducer) Publish(ctx context.Context, m *broker.Message, done func(broker.Receipt, error)) {
	var msg nats.Msg // not kept past the send: no allocation per message
	if !p.admit(ctx, m, done, &msg) {
		return
	}
	// Sent under mu, so a batch the flusher takes holds only messages
	// written before its PING.
	if err := p.nc.PublishMsg(&msg); err != nil {
		p.mu.Unlock()
		done(broker.Receipt{}, p.sendErr(err, &msg))
		p.win.Release(1)
		return
	}
	p.batch = append(p.batch, done)
	// Only the message that fills the batch kicks the flusher: one kick
	// per batch. Kicking on each message past it would leave a kick
	// behind that flushes the few messages sent after the flusher took
	// the batch: a second PING round trip for a handful of messages.
	full := len(p.batch) == p.flushAt
	p.mu.Unlock()
	if full {
		p.nudge()
	}
}

func (p *coreProducer) nudge() { signal(p.kick) }

// CopiesOnPublish implements broker.Copier: PublishMsg has copied the
// message into nats.go's write (or reconnect) buffer when it returns, and
// a failure calls done before Publish returns.
func (p *coreProducer) CopiesOnPublish() bool { return true }

// Flush implements broker.Producer: it flushes now rather than at the
// next tick.
func (p *coreProducer) Flush(ctx context.Context) error {
	p.nudge()
	return p.producer.Flush(ctx)
}

// Close implements broker.Producer. Messages not yet flushed fail.
func (p *coreProducer) Close() error {
	p.shut()
	return nil
}

// flusher flushes the connection whenever a batch is full, and a partial
// one when nothing was flushed for a few milliseconds, and settles the
// batch. (A ticker would also flush the few messages sent since a full
// batch's flush: a PING round trip more per tick.)
func (p *coreProducer) flusher() {
	defer close(p.stopped)
	idle := time.NewTimer(coreFlushEvery)
	defer idle.Stop()
	for {
		select {
		case <-p.kick:
		case <-idle.C:
		case <-p.closing:
			p.mu.Lock()
			b := p.batch
			p.batch = nil
			p.mu.Unlock()
			p.settleBatch(b, broker.Receipt{}, errClosed)
			return
		}
		p.flush()
		idle.Reset(coreFlushEvery)
	}
}

func (p *coreProducer) flush() {
	p.mu.Lock()
	b := p.batch
	p.batch, p.spare = p.spare[:0], nil
	p.mu.Unlock()
	if len(b) == 0 {
		p.spare = b
		return
	}
	err := p.nc.FlushTimeout(p.timeout)
	if err != nil {
		err = p.flushErr(err)
	} else {
		// The server answers a denied publish with -ERR before the PONG.
		_, err = p.denied()
	}
	if err != nil {
		p.settleBatch(b, broker.Receipt{}, err)
	} else {
		p.settleBatch(b, broker.Receipt{Unconfirmed: true, At: time.Now()}, nil)
	}
	clear(b)
	p.spare = b
}

// settleChunk is how many done calls settleBatch makes before it gives
// their window slots back: a publisher waiting on a full window resumes
// after the first chunk, not after the whole batch. With bench's window
// of 65536 a batch is 32768 done calls, and waiting for all of them held
// the producer on 12 to 19 of 61 batches, 42 to 88 ms of a 0.65 s run
// (2M messages, by hand); in chunks, 28 to 55 stalls of 32 to 49 ms in
// all, and 4% more messages a second (medians of 5).
const settleChunk = 1024

func (p *coreProducer) settleBatch(b []func(broker.Receipt, error), r broker.Receipt, err error) {
	for len(b) > 0 {
		n := min(len(b), settleChunk)
		for _, done := range b[:n] {
			done(r, err)
		}
		p.win.Release(n)
		b = b[n:]
	}
}

// flushErr explains a failed flush: the server may or may not have read
// the messages.
func (p *coreProducer) flushErr(err error) error {
	switch {
	case errors.Is(err, nats.ErrTimeout):
		return broker.WithReason("no flush answer within "+p.timeout.String(), &explained{fmt.Sprintf("no answer from nats within %s to the flush after publishing; the message may not have arrived", p.timeout), err})
	case errors.Is(err, nats.ErrConnectionClosed) && !p.nc.IsClosed():
		// nats.go fails pending flushes this way when it reconnects.
		return broker.WithReason("connection lost before the flush", &explained{"connection to nats lost before the flush completed; the message may not have arrived", err})
	}
	return fmt.Errorf("flush to nats: %w", err)
}
