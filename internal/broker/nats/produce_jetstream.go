package nats

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/broker/inflight"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// errClosed fails messages in flight or waiting when Close is called.
var errClosed = inflight.ErrClosed

// jsProducer publishes to JetStream with PubAcks. The acks come in through
// the handlers of the producer's own JetStream context, on its reply
// subscription's goroutine: no goroutine, channel or timer per message,
// and no hand-off between goroutines on the hot path.
type jsProducer struct {
	*producer
	js    jetstream.JetStream
	start time.Time
	sent  sentList
}

// Publish implements broker.Producer.
func (p *jsProducer) Publish(ctx context.Context, m *broker.Message, done func(broker.Receipt, error)) {
	msg := new(nats.Msg) // kept until its ack, which finds it by pointer
	if !p.admit(ctx, m, done, msg) {
		return
	}
	// Listed before it is sent, since the ack may come back before
	// PublishMsgAsync returns; under mu, so the list is in send order.
	p.sent.push(sentMsg{msg: msg, done: done, at: time.Since(p.start)})
	_, err := p.js.PublishMsgAsync(msg)
	p.mu.Unlock()
	if err != nil {
		p.finish(msg, broker.Receipt{}, p.sendErr(err, msg))
	}
}

func (p *jsProducer) onAck(_ jetstream.JetStream, msg *nats.Msg, ack *jetstream.PubAck) {
	p.finish(msg, broker.Receipt{Stream: ack.Stream, Seq: ack.Sequence, Duplicate: ack.Duplicate}, nil)
}

func (p *jsProducer) onErr(_ jetstream.JetStream, msg *nats.Msg, err error) {
	p.finish(msg, broker.Receipt{}, p.ackErr(err, msg.Subject))
}

// finish settles msg unless something else (the timeout sweep, Close)
// already did.
func (p *jsProducer) finish(msg *nats.Msg, r broker.Receipt, err error) {
	done, freed := p.sent.take(msg)
	if done != nil {
		done(r, err)
	}
	p.win.Release(freed)
}

// Close implements broker.Producer.
func (p *jsProducer) Close() error {
	p.shut()
	p.failAll(errClosed)
	// Drops the reply subscription; acks still pending there are lost,
	// and their messages have failed above.
	p.js.CleanupPublisher()
	return nil
}

func (p *jsProducer) failAll(err error) {
	dones, freed := p.sent.takeAll()
	for _, done := range dones {
		done(broker.Receipt{}, err)
	}
	p.win.Release(freed)
}

// failSubject fails the messages in flight to subject.
func (p *jsProducer) failSubject(subject string, err error) {
	dones, freed := p.sent.takeSubject(subject)
	for _, done := range dones {
		done(broker.Receipt{}, err)
	}
	p.win.Release(freed)
}

// sweep fails messages whose ack is overdue, and all of those to a
// subject the server denied. One ticker serves every message: the list is
// in send order, so only its head can be the next to expire.
func (p *jsProducer) sweep() {
	defer close(p.stopped)
	ticker := time.NewTicker(min(max(p.timeout/10, time.Millisecond), maxSweep))
	defer ticker.Stop()
	overdue := broker.WithReason("no PubAck within "+p.timeout.String(), &explained{fmt.Sprintf("no response from JetStream within %s", p.timeout), jetstream.ErrAsyncPublishTimeout})
	for {
		select {
		case <-ticker.C:
		case <-p.closing:
			return
		}
		if subject, err := p.denied(); err != nil {
			p.failSubject(subject, err)
			continue
		}
		cutoff := time.Since(p.start) - p.timeout
		for {
			done, freed := p.sent.takeSentBefore(cutoff)
			if done == nil {
				break
			}
			done(broker.Receipt{}, overdue)
			p.win.Release(freed)
		}
	}
}

// sentList holds the messages sent and not yet released, in send order,
// in a ring as large as the window. Acks come back mostly in send order,
// so finding a message is usually a look at the head. A message settled
// behind an unsettled one keeps its slot (and its window slot) until the
// head moves past it.
type sentList struct {
	mu   sync.Mutex
	ring []sentMsg
	head int
	n    int
}

// sentMsg is one message in the list; msg is nil once it is settled.
type sentMsg struct {
	msg  *nats.Msg
	done func(broker.Receipt, error)
	// at is when it was sent, since the producer started: a monotonic
	// clock for the sweep.
	at time.Duration
}

func (l *sentList) push(e sentMsg) {
	l.mu.Lock()
	l.ring[(l.head+l.n)%len(l.ring)] = e
	l.n++
	l.mu.Unlock()
}

// take settles msg's entry and returns its done call, or nil when it is
// not listed (settled already). freed counts the entries that left the
// head, whose window slots the caller releases.
func (l *sentList) take(msg *nats.Msg) (done func(broker.Receipt, error), freed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range l.n {
		e := &l.ring[(l.head+i)%len(l.ring)]
		if e.msg == msg {
			done = e.done
			*e = sentMsg{}
			return done, l.advance()
		}
	}
	return nil, 0
}

// takeSentBefore takes the head entry if it was sent before cutoff.
func (l *sentList) takeSentBefore(cutoff time.Duration) (done func(broker.Receipt, error), freed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == 0 || l.ring[l.head].at >= cutoff {
		return nil, 0
	}
	e := &l.ring[l.head]
	done = e.done
	*e = sentMsg{}
	return done, l.advance()
}

// takeAll empties the list and returns the done calls of the entries not
// settled yet, in send order.
func (l *sentList) takeAll() (dones []func(broker.Receipt, error), freed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range l.n {
		e := &l.ring[(l.head+i)%len(l.ring)]
		if e.msg != nil {
			dones = append(dones, e.done)
		}
		*e = sentMsg{}
	}
	freed, l.n = l.n, 0
	return dones, freed
}

// takeSubject settles the entries of messages to subject and returns
// their done calls, in send order.
func (l *sentList) takeSubject(subject string) (dones []func(broker.Receipt, error), freed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range l.n {
		e := &l.ring[(l.head+i)%len(l.ring)]
		if e.msg != nil && e.msg.Subject == subject {
			dones = append(dones, e.done)
			*e = sentMsg{}
		}
	}
	return dones, l.advance()
}

// advance drops settled entries from the head.
func (l *sentList) advance() int {
	freed := 0
	for l.n > 0 && l.ring[l.head].msg == nil {
		l.head = (l.head + 1) % len(l.ring)
		l.n--
		freed++
	}
	return freed
}

// ackErr explains why JetStream did not store a message to subject.
func (p *jsProducer) ackErr(err error, subject string) error {
	var api *jetstream.APIError
	switch {
	case errors.Is(err, nats.ErrDisconnected):
		return broker.WithReason("connection lost before the PubAck", &explained{"connection to nats lost before JetStream confirmed the message; it may or may not be stored", err})
	case errors.Is(err, jetstream.ErrNoStreamResponse):
		return broker.WithReason("no stream answered", mqerr.Wrap(mqerr.NotFound, &explained{fmt.Sprintf("no JetStream stream answered for subject %q: deleted, or JetStream not available", subject), err}))
	case errors.As(err, &api):
		// The description names the cause; the code is stable.
		reason := fmt.Sprintf("%s (err_code %d)", api.Description, api.ErrorCode)
		if api.ErrorCode == jetstream.JSErrCodeStreamNotFound {
			return broker.WithReason(reason, mqerr.Wrap(mqerr.NotFound, &explained{fmt.Sprintf("JetStream rejected the message: %s", api.Description), err}))
		}
		return broker.WithReason(reason, &explained{"JetStream rejected the message: " + api.Description, err})
	}
	return fmt.Errorf("publish to %q: %w", subject, err)
}
