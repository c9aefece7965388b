package rabbitmq

import (
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/broker"
)

// publishUnconfirmed sends m on a channel not in confirm mode (NoConfirm)
// and reports it at once: written to the connection (Receipt.Unconfirmed),
// which says nothing of whether the broker queued it. It holds the window
// slot Publish took only until done returned. A channel the broker closed
// fails what is published once run learned so; what was written before is
// reported written, as nothing tells otherwise. A basic.return (an
// unroutable message, with Mandatory) comes after its message was reported
// and is counted for Flush.
func (p *producer) publishUnconfirmed(m *broker.Message, key string, pub amqp.Publishing, done func(broker.Receipt, error)) {
	defer p.win.Release(1)
	p.pubMu.Lock()
	p.mu.Lock()
	err := p.err
	p.mu.Unlock()
	if err == nil {
		err = p.ch.Publish(p.exchangeOf(m), key, p.mandatory, false, pub)
		if err != nil && closing(p.ch, err) {
			// run sets the reason the channel closed.
			failed := p.failed
			p.pubMu.Unlock()
			<-failed
			p.mu.Lock()
			err = p.err
			p.mu.Unlock()
			done(broker.Receipt{}, err)
			return
		}
		if err != nil {
			err = fmt.Errorf("rabbitmq at %s: publish: %w", p.addr, err)
		}
	}
	p.pubMu.Unlock()
	if err != nil {
		done(broker.Receipt{}, err)
		return
	}
	done(broker.Receipt{Unconfirmed: true}, nil)
}

// unconfirmedErr is what Flush reports without confirms: the reason the
// channel closed, or the returns that came after their messages were
// reported written.
func (p *producer) unconfirmedErr() error {
	p.mu.Lock()
	err := p.err
	p.mu.Unlock()
	if n := p.returnedUnconfirmed.Load(); n > 0 {
		return fmt.Errorf("rabbitmq at %s: %d messages reported written came back unroutable (basic.return; no confirms to fail them)", p.addr, n)
	}
	return err
}
