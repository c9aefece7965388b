package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

var _ broker.DelayedRetries = (*Conn)(nil)

// NewRetrier implements broker.DelayedRetries with one queue per delay,
// declared when missing:
//
//	<queue>.retry.<delay>   durable, x-message-ttl = delay,
//	                        x-dead-letter-exchange = "" (the default exchange),
//	                        x-dead-letter-routing-key = <queue>
//
// A failed message is published to it through the default exchange
// (mandatory, with a publisher confirm) with its properties and typed
// headers, without the x-death / x-first-death-* / x-last-death-*
// headers of earlier dead-lettering and with mqctl-attempt; only after
// the broker confirmed the copy is the delivery acked. When the TTL
// expires the broker dead-letters the copy back to <queue>, where the
// consumer gets it again. A queue of that name declared with other
// arguments is refused (PRECONDITION_FAILED) and the run does not start.
// Everything that can refuse the run is checked before any queue is
// created: the names, that <queue> exists, and the arguments of the retry
// queues that exist already; a refused run leaves nothing behind.
func (c *Conn) NewRetrier(ctx context.Context, o broker.RetryOptions) (broker.Retrier, error) {
	if len(o.Sources) != 1 {
		return nil, mqerr.Usagef("rabbitmq retries one queue, got %d", len(o.Sources))
	}
	queue := o.Sources[0]
	type retryQueue struct {
		name string
		args amqp.Table
		ttl  int64
	}
	var queues []retryQueue
	for _, d := range o.Delays {
		name := broker.RetryName(queue, d)
		if err := checkShort("retry queue name", name); err != nil {
			return nil, err
		}
		queues = append(queues, retryQueue{name: name, ttl: d.Milliseconds(), args: amqp.Table{
			"x-message-ttl":             d.Milliseconds(),
			"x-dead-letter-exchange":    "",
			"x-dead-letter-routing-key": queue,
		}})
	}
	declare := func(q retryQueue) error {
		return c.declareAside(ctx, func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclare(q.name, true, false, false, false, q.args)
			return err
		})
	}
	declareErr := func(q retryQueue, err error) error {
		return fmt.Errorf("declaring queue %q (x-message-ttl %d, back to %q): %w", q.name, q.ttl, queue, c.declareError(err, "queue", q.name))
	}
	if err := c.queueExists(ctx, queue); err != nil {
		return nil, c.declareError(err, "queue", queue)
	}
	var missing []retryQueue
	for _, q := range queues {
		switch err := c.queueExists(ctx, q.name); {
		case err == nil:
			// A declare of a queue that exists creates nothing and
			// refuses other arguments.
			if err := declare(q); err != nil {
				return nil, declareErr(q, err)
			}
		case isNotFound(err):
			missing = append(missing, q)
		default:
			return nil, c.declareError(err, "queue", q.name)
		}
	}
	for _, q := range missing {
		if err := declare(q); err != nil {
			return nil, declareErr(q, err)
		}
	}
	rt := &retrier{c: c, queue: queue}
	for _, q := range queues {
		rt.queues = append(rt.queues, q.name)
	}
	if _, err := rt.channel(ctx); err != nil {
		return nil, err
	}
	return rt, nil
}

// queueExists is a passive declare of name on a channel of its own (a
// failed one closes the channel it ran on): nil when the queue exists,
// an *amqp.Error NOT_FOUND when not.
func (c *Conn) queueExists(ctx context.Context, name string) error {
	return c.declareAside(ctx, func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclarePassive(name, false, false, false, false, nil)
		return err
	})
}

// declareAside runs f on a throwaway channel within ctx.
func (c *Conn) declareAside(ctx context.Context, f func(*amqp.Channel) error) error {
	_, err := aside(ctx, func() (struct{}, error) {
		ch, err := c.conn.Channel()
		if err != nil {
			return struct{}{}, err
		}
		defer ch.Close()
		return struct{}{}, f(ch)
	}, nil, fmt.Sprintf("rabbitmq at %s: declaring the retry queues was interrupted", c.addr),
		fmt.Sprintf("rabbitmq at %s: declaring the retry queues: %s", c.addr, broker.TransportReason(ctx, context.DeadlineExceeded)))
	return err
}

// declareError is destinationError for an error of declareAside, whose
// own errors (interrupted, timed out) pass as they are.
func (c *Conn) declareError(err error, what, name string) error {
	if _, ok := errors.AsType[*mqerr.Error](err); ok {
		return err
	}
	return c.destinationError(err, what, name)
}

// isNotFound tells an AMQP NOT_FOUND (404) channel error.
func isNotFound(err error) bool {
	var aerr *amqp.Error
	return errors.As(err, &aerr) && aerr.Code == amqp.NotFound
}

// retrier publishes retry copies on a confirm channel of its own, one at
// a time: a retry is rare next to the deliveries, and one publish in
// flight makes a basic.return easy to match to its message.
type retrier struct {
	c      *Conn
	queue  string
	queues []string

	mu      sync.Mutex
	ch      *amqp.Channel
	returns chan amqp.Return
}

// channel returns the confirm channel, opening one when there is none or
// the last one closed.
func (rt *retrier) channel(ctx context.Context) (*amqp.Channel, error) {
	if rt.ch != nil && !rt.ch.IsClosed() {
		return rt.ch, nil
	}
	ch, err := aside(ctx, func() (*amqp.Channel, error) {
		ch, err := rt.c.conn.Channel()
		if err == nil {
			if err = ch.Confirm(false); err != nil {
				ch.Close()
			}
		}
		return ch, err
	}, func(ch *amqp.Channel) { ch.Close() }, "opening the retry channel was interrupted", "opening the retry channel timed out")
	if err != nil {
		return nil, rt.c.destinationError(err, "queue", rt.queue)
	}
	rt.ch, rt.returns = ch, ch.NotifyReturn(make(chan amqp.Return, 1))
	return ch, nil
}

// Attempt implements broker.Retrier: the mqctl-attempt header.
func (rt *retrier) Attempt(m *broker.Message) int { return broker.HeaderAttempt(m) }

// Retry implements broker.Retrier.
func (rt *retrier) Retry(ctx context.Context, d *broker.Delivery, i, next int) error {
	x, ok := d.Settler.(*delivery)
	if !ok || i < 0 || i >= len(rt.queues) {
		return mqerr.Usagef("rabbitmq: retry %d of a delivery this consumer did not make", i)
	}
	name := rt.queues[i]
	if err := rt.publish(ctx, name, retryPublishing(x, next)); err != nil {
		return fmt.Errorf("rabbitmq: parking %s in %q: %w", d.Where(), name, err)
	}
	return d.Ack(ctx)
}

// publish sends pub to queue through the default exchange and waits for
// the broker's confirm; a basic.return (the queue is gone) fails it.
func (rt *retrier) publish(ctx context.Context, queue string, pub amqp.Publishing) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	ch, err := rt.channel(ctx)
	if err != nil {
		return err
	}
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, true, false, pub)
	if err != nil {
		return err
	}
	acked, err := dc.WaitContext(ctx)
	switch {
	case err != nil:
		return err
	case !acked:
		return errors.New("the broker nacked the copy")
	}
	// The return of an unroutable message comes before its confirm.
	select {
	case r := <-rt.returns:
		return fmt.Errorf("the copy was returned: %s (was queue %q deleted?)", r.ReplyText, queue)
	default:
	}
	return nil
}

// retryPublishing is x's message as it was delivered, with attempt next
// in mqctl-attempt and without the headers of earlier dead-lettering,
// which the broker writes again when the copy expires.
func retryPublishing(x *delivery, next int) amqp.Publishing {
	a := &x.AMQP
	headers := make(amqp.Table, len(x.table)+1)
	for k, v := range x.table {
		if k == "x-death" || strings.HasPrefix(k, "x-first-death-") || strings.HasPrefix(k, "x-last-death-") || strings.EqualFold(k, broker.AttemptHeader) {
			continue
		}
		headers[k] = v
	}
	headers[broker.AttemptHeader] = int32(next)
	pub := amqp.Publishing{
		Headers: headers, Body: x.Value, ContentType: a.ContentType, ContentEncoding: x.encoding, MessageId: a.MessageID,
		CorrelationId: a.CorrelationID, ReplyTo: a.ReplyTo, Expiration: a.Expiration, Priority: a.Priority,
		Type: a.Type, AppId: a.AppID, Timestamp: x.Timestamp, DeliveryMode: amqp.Persistent,
	}
	return pub
}

// Close implements broker.Retrier.
func (rt *retrier) Close() error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.ch != nil {
		rt.ch.Close()
		rt.ch = nil
	}
	return nil
}
