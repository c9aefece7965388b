package nats

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/broker/inflight"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// Producer defaults, used when ProducerOptions leaves them zero.
const (
	defaultInFlight       = 4096
	defaultConfirmTimeout = 30 * time.Second
	// coreFlushEvery is how long core mode lets a partial batch wait for
	// a flush: short enough that a slow trickle of messages is reported
	// promptly.
	coreFlushEvery = 5 * time.Millisecond
	// maxSweep bounds the interval of the timeout and permission checks.
	maxSweep = 250 * time.Millisecond
)

// NewProducer implements broker.Publisher. By default every message is
// published to JetStream and done only when its PubAck came back; with
// o.Core it is published on core NATS, which never confirms, and done
// once a flush (PING/PONG) showed the server read it.
//
// done is called on nats.go's goroutines (the ack subscription, the
// reconnect handler) as well as the producer's own, possibly at the same
// time for different messages. It must return promptly and must not wait
// on the same producer (Publish on a full window, Flush): that would stall
// the acks it waits for.
//
// With o.PerMessageDestination each message goes to its own
// m.NATS.Subject, which a stream must capture (looked up once per
// subject); a message without one, or whose subject no stream captures,
// fails alone through done. It needs JetStream: core NATS would not
// confirm what a replay deletes from its source.
func (c *Conn) NewProducer(ctx context.Context, o broker.ProducerOptions) (broker.Producer, error) {
	switch {
	case o.PerMessageDestination && o.Core:
		return nil, mqerr.Usagef("nats: sending each message to its own subject needs JetStream confirms; core NATS has none")
	case o.NoConfirm:
		return nil, mqerr.Usagef("nats: JetStream always confirms; core NATS (--core) publishes without confirms")
	case !o.PerMessageDestination:
		if err := checkSubject(o.Destination); err != nil {
			return nil, err
		}
	}
	if o.InFlight < 0 {
		return nil, mqerr.Usagef("nats: in-flight window must be positive, got %d", o.InFlight)
	}
	if o.ConfirmTimeout < 0 {
		return nil, mqerr.Usagef("nats: confirm timeout must be positive, got %s", o.ConfirmTimeout)
	}
	inFlight, timeout := o.InFlight, o.ConfirmTimeout
	if inFlight == 0 {
		inFlight = defaultInFlight
	}
	if timeout == 0 {
		timeout = defaultConfirmTimeout
	}
	p := &producer{
		nc:      c.nc,
		subject: o.Destination,
		timeout: timeout,
		win:     inflight.New(inFlight),
		closing: make(chan struct{}),
		stopped: make(chan struct{}),
		seenErr: c.nc.LastError(),
	}
	if o.Core {
		cp := newCoreProducer(p, inFlight)
		go cp.flusher()
		return cp, nil
	}
	if o.PerMessageDestination {
		// o.Destination is not consulted: each message says where it goes.
		p.subject, p.routes = "", &routes{c: c, known: map[string]error{}}
	} else if err := c.checkStream(ctx, o.Destination, noStreamHint); err != nil {
		return nil, err
	}
	jp := &jsProducer{producer: p, start: time.Now(), sent: sentList{ring: make([]sentMsg, inFlight)}}
	// A JetStream context of its own: the ack handlers and the in-flight
	// bound are per context, and Close can drop this producer's reply
	// subscription without touching anyone else's publishes. Its bound is
	// twice the window so that acks given up on by the sweep (which
	// jetstream keeps counting until a reconnect) do not stall publishing.
	js, err := jetstream.New(c.nc,
		jetstream.WithPublishAsyncMaxPending(2*inFlight),
		jetstream.WithPublishAsyncAckHandler(jp.onAck),
		jetstream.WithPublishAsyncErrHandler(jp.onErr))
	if err != nil {
		return nil, fmt.Errorf("nats at %s: jetstream: %w", c.hosts, err)
	}
	jp.js = js
	go jp.sweep()
	return jp, nil
}

// producer is what both modes share: the connection, the in-flight window
// and the shutdown signals.
type producer struct {
	nc *nats.Conn
	// subject is where every message goes, "" when routes says it per
	// message.
	subject string
	routes  *routes
	timeout time.Duration
	win     *inflight.Window
	// closing is closed by Close; stopped when the producer's background
	// goroutine (the sweep or the flusher) has returned.
	closing chan struct{}
	stopped chan struct{}

	// mu orders sends with the bookkeeping of what was sent, and guards
	// closed.
	mu     sync.Mutex
	closed bool

	// seenErr is the connection's last error already acted upon, so that
	// an old error is not blamed on new messages. Background goroutine
	// only.
	seenErr error
}

// Flush implements broker.Producer.
func (p *producer) Flush(ctx context.Context) error { return p.win.Wait(ctx) }

// shut marks the producer closed, which fails the publishes waiting for
// room, and waits for the background goroutine to return.
func (p *producer) shut() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.closing)
		p.win.Close()
	}
	p.mu.Unlock()
	<-p.stopped
}

// admit prepares m into msg and, when the producer is open, returns true
// with p.mu held for the send. false means done was already called (a bad
// message, a closed producer) and p.mu is not held. msg is the caller's:
// core NATS is done with it once sent and keeps it on its stack, so a
// publish allocates nothing.
func (p *producer) admit(ctx context.Context, m *broker.Message, done func(broker.Receipt, error), msg *nats.Msg) bool {
	if !p.prepare(ctx, m, done, msg) {
		return false
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		done(broker.Receipt{}, errClosed)
		p.win.Release(1)
		return false
	}
	return true
}

// prepare builds the message into msg and takes a window slot; on failure
// done has been called and false is returned.
func (p *producer) prepare(ctx context.Context, m *broker.Message, done func(broker.Receipt, error), msg *nats.Msg) bool {
	subject := p.subject
	if p.routes != nil {
		var err error
		if subject, err = p.routes.subject(ctx, m); err != nil {
			done(broker.Receipt{}, err)
			return false
		}
	}
	if err := natsMsg(msg, subject, m); err != nil {
		done(broker.Receipt{}, err)
		return false
	}
	if err := p.win.Acquire(ctx); err != nil {
		done(broker.Receipt{}, err)
		return false
	}
	return true
}

// CheckMessage implements broker.MessageChecker: m is refused as Publish
// would refuse it (headers NATS cannot carry unchanged, a conflicting
// message id).
func (p *producer) CheckMessage(m *broker.Message) error {
	subject := p.subject
	if subject == "" {
		subject = "check"
	}
	var msg nats.Msg
	return natsMsg(&msg, subject, m)
}

// sendErr explains a publish that failed before it left the client.
func (p *producer) sendErr(err error, msg *nats.Msg) error {
	if errors.Is(err, nats.ErrMaxPayload) {
		return broker.WithReason(fmt.Sprintf("larger than max_payload (%d bytes)", p.nc.MaxPayload()),
			&explained{fmt.Sprintf("message of %d bytes (plus headers) exceeds the server's max_payload of %d bytes", len(msg.Data), p.nc.MaxPayload()), err})
	}
	if errors.Is(err, nats.ErrReconnectBufExceeded) {
		return &explained{"nats is reconnecting and its reconnect buffer is full", err}
	}
	if errors.Is(err, nats.ErrConnectionClosed) {
		return &explained{"the nats connection is closed", err}
	}
	return fmt.Errorf("publish to %q: %w", msg.Subject, err)
}

// denied returns an Auth error, and the subject it is about, when the
// connection reported a new permissions violation for publishing to the
// producer's subject (to any subject, with per-message destinations)
// since it last looked.
func (p *producer) denied() (string, error) {
	err := p.nc.LastError()
	if err == nil || err == p.seenErr {
		return "", nil
	}
	p.seenErr = err
	subject := p.subject
	if p.routes != nil {
		subject = publishDenied(err)
	}
	if subject == "" || !violation(err, `"`+subject+`"`) {
		return "", nil
	}
	return subject, broker.WithReason("permission denied", mqerr.Wrap(mqerr.Auth, &explained{fmt.Sprintf("nats denied this user publishing to %q", subject), err}))
}

// publishDenied returns the subject of a permissions violation for
// publishing, which the server quotes: Permissions Violation for Publish
// to "orders.eu".
func publishDenied(err error) string {
	_, rest, ok := strings.Cut(err.Error(), `Publish to "`)
	if !ok {
		return ""
	}
	subject, _, _ := strings.Cut(rest, `"`)
	return subject
}

// violation reports a permissions violation whose text contains quoted,
// the subject as the server quotes it (or the start of it).
func violation(err error, quoted string) bool {
	return errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), quoted)
}

// explained is an error with a clearer message than the one it wraps,
// which stays reachable for errors.Is.
type explained struct {
	msg string
	err error
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.err }
