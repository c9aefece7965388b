package nats

import (
	"context"
	"fmt"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

var _ broker.DelayedRetries = (*Conn)(nil)

// NewRetrier implements broker.DelayedRetries with JetStream's own
// delayed redelivery: a failed message is NAKed with the delay (-NAK
// {"delay": …}) and the server delivers it again to the same consumer
// when the delay is over. Nothing is copied: the message stays in the
// stream, unacknowledged, so a crash during the wait loses nothing (the
// server redelivers it after the consumer's ack wait at the latest). The
// attempt is the server's delivery count. While it waits the message
// takes one of the consumer's --prefetch (max ack pending) slots.
func (c *Conn) NewRetrier(_ context.Context, o broker.RetryOptions) (broker.Retrier, error) {
	return &jsRetrier{delays: o.Delays}, nil
}

type jsRetrier struct{ delays []time.Duration }

// Attempt implements broker.Retrier: the server's delivery count.
func (jsRetrier) Attempt(m *broker.Message) int { return max(1, int(m.NATS.NumDelivered)) }

// Retry implements broker.Retrier.
func (r *jsRetrier) Retry(ctx context.Context, d *broker.Delivery, i, _ int) error {
	if i < 0 || i >= len(r.delays) {
		return mqerr.Usagef("nats: retry %d of %d delays", i, len(r.delays))
	}
	if err := d.Nack(ctx, r.delays[i]); err != nil {
		return fmt.Errorf("nats: -NAK with delay %s for %s: %w", r.delays[i], d.Where(), err)
	}
	return nil
}

// Close implements broker.Retrier.
func (jsRetrier) Close() error { return nil }
