package nats

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// coreConsumer reads a core NATS subject. Core NATS has no acknowledgement
// and no history: settling is a no-op, and what is published while the
// consumer is disconnected, or while it falls so far behind that nats.go's
// subscription buffer overflows, is lost. nats.go subscribes again by
// itself after a reconnect.
type coreConsumer struct {
	*link
	in *inbox[*nats.Msg]

	// mu guards what follows; Next holds it except while it waits.
	mu    sync.Mutex
	cur   []broker.Delivery
	pos   int
	taken taken[*nats.Msg]
	err   error
}

// coreSlab is how many deliveries are allocated together (see taken).
const coreSlab = 32 << 10 / int(unsafe.Sizeof(broker.Delivery{}))

func (c *Conn) newCoreConsumer(ctx context.Context, o broker.ConsumerOptions) (broker.Consumer, error) {
	subject := o.Sources[0]
	l, err := c.dial(ctx, o.Logf)
	if err != nil {
		return nil, err
	}
	cc := &coreConsumer{link: l, in: newInbox[*nats.Msg](o.Prefetch)}
	nc := l.conn.nc
	// An empty queue group is a plain subscription.
	_, err = nc.QueueSubscribe(subject, o.QueueGroup, cc.in.put)
	if err == nil {
		// The round trip makes sure the server has the subscription, and
		// shows a permission violation, before NewConsumer returns.
		fctx, cancel := context.WithTimeout(ctx, opTimeout)
		err = nc.FlushWithContext(fctx)
		cancel()
	}
	switch {
	case err == nil && violation(nc.LastError(), `"`+subject+`"`):
		err = mqerr.New(mqerr.Auth, "nats at %s denied this user subscribing to %q", c.hosts, subject)
	case errors.Is(err, context.DeadlineExceeded):
		err = mqerr.New(mqerr.Unreachable, "no answer from nats at %s to subscribing to %q", c.hosts, subject)
	case err != nil:
		err = fmt.Errorf("subscribe to %q on nats at %s: %s", subject, c.hosts, reason(err))
	}
	if err != nil {
		l.shut()
		nc.Close()
		return nil, err
	}
	o.Logf("core NATS has no acknowledgement: settling does nothing, and messages published while mqctl is disconnected or falls behind are lost")
	return cc, nil
}

// NoAck implements broker.NoAcker: core NATS has no acknowledgement.
func (c *coreConsumer) NoAck() bool { return true }

// Next implements broker.Consumer.
func (c *coreConsumer) Next(ctx context.Context) (*broker.Delivery, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if c.err != nil {
			return nil, c.err
		}
		if c.pos < len(c.cur) {
			d := &c.cur[c.pos]
			c.pos++
			return d, nil
		}
		if len(c.taken.rest) > 0 {
			c.fill(c.taken.next(coreSlab))
			continue
		}
		c.mu.Unlock()
		items, _, err := wait(ctx, c.link, c.in, c.taken.all, nil)
		c.mu.Lock()
		if err != nil {
			if ctx.Err() == nil {
				c.err = err
			}
			return nil, err
		}
		c.taken.set(items)
	}
}

// fill turns messages into deliveries, allocated together.
func (c *coreConsumer) fill(items []*nats.Msg) {
	batch := make([]broker.Delivery, len(items))
	for i, m := range items {
		d := &batch[i]
		d.Settler = noSettle{}
		d.Value = m.Data
		d.Headers = headerList(m.Header)
		d.Destination = m.Subject
		d.NATS.Subject = m.Subject
		d.NATS.MsgID = m.Header.Get(jetstream.MsgIDHeader)
	}
	c.cur, c.pos = batch, 0
}

// Buffered implements broker.Consumer.
func (c *coreConsumer) Buffered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0
	}
	return len(c.cur) - c.pos + len(c.taken.rest) + c.in.len()
}

// Close implements broker.Consumer: closing the consumer's connection
// ends the subscription. Messages buffered and not yet returned are lost,
// as core NATS loses anything nobody reads.
func (c *coreConsumer) Close() error {
	if !c.shut() {
		return nil
	}
	c.in.close()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = errClosedConsumer
	}
	c.conn.nc.Close()
	return nil
}
