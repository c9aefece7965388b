package rabbitmq

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

var errNacked = errors.New("nacked by the broker")

// run is the one goroutine that settles messages: confirms, returns,
// timeouts and the channel's close.
//
// With mandatory, the broker sends basic.return for an unroutable message
// before the basic.ack for it, and the return carries no delivery tag.
// amqp091's reader dispatches both in the order they came, and the returns
// channel is unbuffered, so the reader cannot dispatch the ack until run
// has taken the return; run marks the message before it looks at any later
// confirm, so the ack finds it marked. (amqp091 drops a notification that
// waits more than 5 s, hence done runs elsewhere and run only keeps books.)
// amqp091 also splits multiple acks and nacks into one confirm per tag, in
// tag order.
func (p *producer) run() {
	tick := time.NewTicker(p.tick)
	defer tick.Stop()
	for {
		select {
		case c, ok := <-p.confirms:
			if !ok {
				if p.closed(<-p.closes) {
					return
				}
				continue
			}
			p.confirm(c)
		case r, ok := <-p.returns:
			if !ok {
				p.returns = nil
				continue
			}
			if p.noConfirm {
				p.returnedUnconfirmed.Add(1)
				continue
			}
			p.markReturned(r)
		case e := <-p.closes:
			// Confirms the reader got before the close are real: take them.
			if p.confirms != nil {
				for c := range p.confirms {
					p.confirm(c)
				}
			}
			if p.closed(e) {
				return
			}
		case now := <-tick.C:
			p.sweep(now)
		}
	}
}

// closed handles the close of the channel, for the reason e (nil when
// the producer closed it), and reports whether run is over: only with
// PerMessageDestination does a channel closed by the broker get replaced.
func (p *producer) closed(e *amqp.Error) bool {
	if p.perMessage && channelOnly(e) && p.reopen(e) {
		return false
	}
	p.stop(e)
	return true
}

// channelOnly reports a close of the channel alone, by the broker (a
// missing exchange, a refused write), which another channel survives.
func channelOnly(e *amqp.Error) bool {
	return e != nil && e.Server && e.Code != amqp.ConnectionForced && e.Code != amqp.InvalidPath && e.Code < 500
}

// reopen fails the messages pending on the closed channel with the reason
// e, then publishes on a new channel, whose delivery tags start again at
// 1. It reports false, leaving the rest to stop, when the producer was
// closed meanwhile or no channel can be opened (the connection is gone).
func (p *producer) reopen(e *amqp.Error) bool {
	ch, err := p.c.conn.Channel()
	if err == nil {
		if err = ch.Confirm(false); err != nil {
			ch.Close()
		}
	}
	if err == nil {
		p.listen(ch)
	}
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	reason := p.closeReason(e)
	for tag := p.oldest; tag < p.next; tag++ {
		if pe, ok := p.pending[tag]; ok {
			p.finish(pe, broker.Receipt{}, reason)
		}
	}
	clear(p.pending)
	p.oldest, p.next = 1, 1
	close(p.failed)
	p.failed = make(chan struct{})
	if e.Code == amqp.NotFound {
		// An exchange checked before may be the one deleted since.
		p.exchangesMu.Lock()
		clear(p.exchanges)
		p.exchangesMu.Unlock()
	}
	if err != nil || p.err != nil {
		if err == nil {
			ch.Close()
		} else if p.err == nil {
			p.err = fmt.Errorf("rabbitmq at %s: cannot reopen the publishing channel after %v: %w", p.addr, reason, err)
		}
		return false
	}
	p.ch = ch
	return true
}

func (p *producer) confirm(c amqp.Confirmation) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.pending[c.DeliveryTag]
	if !ok {
		// Timed out already, and reported so.
		return
	}
	delete(p.pending, c.DeliveryTag)
	// Keep oldest at the first pending tag, so markReturned and sweep
	// do not walk over confirmed ones.
	for p.oldest < p.next {
		if _, ok := p.pending[p.oldest]; ok {
			break
		}
		p.oldest++
	}
	switch {
	case e.returned != nil:
		p.finish(e, broker.Receipt{}, e.returned)
	case !c.Ack:
		p.finish(e, broker.Receipt{}, errNacked)
	default:
		p.finish(e, broker.Receipt{DeliveryTag: c.DeliveryTag}, nil)
	}
}

// markReturned finds the returned message among those awaiting their
// confirm by what the return echoes back (exchange, routing key, body,
// properties, headers) and marks the lowest such tag not marked yet. That
// is sound: the broker returns messages in the order they were published,
// and two messages that match are identical, so whichever of them is
// reported unroutable, the report says the same thing.
func (p *producer) markReturned(r amqp.Return) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for tag := p.oldest; tag < p.next; tag++ {
		e, ok := p.pending[tag]
		if !ok || e.returned != nil || !p.matches(e.m, &r) {
			continue
		}
		where := fmt.Sprintf("exchange %q", r.Exchange)
		if r.Exchange == "" {
			where = "the default exchange"
		}
		e.returned = broker.WithReason(fmt.Sprintf("%s (%d)", r.ReplyText, r.ReplyCode),
			fmt.Errorf("unroutable: %s (%d) via %s routing key %q", r.ReplyText, r.ReplyCode, where, r.RoutingKey))
		p.pending[tag] = e
		return
	}
}

func (p *producer) matches(m *broker.Message, r *amqp.Return) bool {
	// m was published, so its headers were built without error.
	a := &m.AMQP
	headers, _ := broker.HeadersWithKey(m, nil)
	if r.Exchange != p.exchangeOf(m) || r.RoutingKey != p.routingKey(m) || !bytes.Equal(r.Body, m.Value) || r.MessageId != a.MessageID ||
		r.CorrelationId != a.CorrelationID || r.Type != a.Type || r.AppId != a.AppID ||
		r.ContentType != a.ContentType || len(r.Headers) != len(headers) {
		return false
	}
	for _, h := range headers {
		switch v := r.Headers[h.Key].(type) {
		case string:
			if v != string(h.Value) {
				return false
			}
		default:
			// Typed values and void, compared by their text.
			if !bytes.Equal(headerBytes(v), h.Value) {
				return false
			}
		}
	}
	return true
}

// sweep advances the clock and fails the messages that waited longer than
// the timeout for their confirm: between the timeout and two ticks more,
// as sent may be a tick early. Tags grow with publish time, so only the
// oldest need a look.
func (p *producer) sweep(now time.Time) {
	p.clock.Store(now.UnixNano())
	p.mu.Lock()
	defer p.mu.Unlock()
	for ; p.oldest < p.next; p.oldest++ {
		e, ok := p.pending[p.oldest]
		if !ok {
			continue
		}
		if time.Duration(now.UnixNano()-e.sent) < p.timeout+p.tick {
			return
		}
		delete(p.pending, p.oldest)
		p.finish(e, broker.Receipt{}, fmt.Errorf("no confirm within %s", p.timeout))
	}
}

// stop fails every message still pending with the reason the channel
// closed and makes that reason fail every later Publish.
func (p *producer) stop(e *amqp.Error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var reason error
	switch {
	case e != nil:
		reason = p.closeReason(e)
	case p.err != nil:
		reason = fmt.Errorf("rabbitmq at %s: the producer was closed before the broker confirmed the message", p.addr)
	default:
		reason = fmt.Errorf("rabbitmq at %s: the connection was closed before the broker confirmed the message", p.addr)
	}
	if p.err == nil {
		p.err = reason
	}
	for tag := p.oldest; tag < p.next; tag++ {
		if e, ok := p.pending[tag]; ok {
			p.finish(e, broker.Receipt{}, reason)
		}
	}
	clear(p.pending)
	p.oldest = p.next
	p.stopped = true
	close(p.failed)
	p.wake()
}

// closeReason says whether the channel or the whole connection closed,
// and why, typed by the AMQP reply code.
func (p *producer) closeReason(e *amqp.Error) error {
	what := "channel"
	if !e.Server || e.Code == amqp.ConnectionForced || e.Code == amqp.InvalidPath || e.Code >= 500 {
		what = "connection"
	}
	kind := mqerr.Failure
	switch e.Code {
	case amqp.NotFound:
		kind = mqerr.NotFound
	case amqp.AccessRefused:
		kind = mqerr.Auth
	}
	return broker.WithReason(amqpReason(e), mqerr.New(kind, "rabbitmq at %s: %s closed: %s", p.addr, what, e.Reason))
}

// amqpReason names an AMQP error by its reply text's constant and code,
// "PRECONDITION_FAILED (406)", without the details that follow " - ".
func amqpReason(e *amqp.Error) string {
	name, _, _ := strings.Cut(e.Reason, " - ")
	if e.Code == 0 {
		return name
	}
	return fmt.Sprintf("%s (%d)", name, e.Code)
}

// finish queues a result for report. p.mu is held.
func (p *producer) finish(e entry, r broker.Receipt, err error) {
	p.finished = append(p.finished, result{done: e.done, r: r, err: err})
	p.wake()
}

func (p *producer) wake() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// report calls done for every finished message, in batches, then frees
// their window slots. It ends once run stopped and all were reported.
func (p *producer) report() {
	defer close(p.reported)
	for {
		p.mu.Lock()
		for len(p.finished) == 0 && !p.stopped {
			p.mu.Unlock()
			<-p.kick
			p.mu.Lock()
		}
		batch := p.finished
		p.finished = p.spare[:0]
		p.mu.Unlock()
		if len(batch) == 0 {
			return
		}
		for _, r := range batch {
			r.done(r.r, r.err)
			p.win.Release(1)
		}
		clear(batch)
		p.mu.Lock()
		p.spare = batch[:0]
		p.mu.Unlock()
	}
}
