package nats

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// Producer defaults, used when ProducerOptions leaves them zero.
const (
	defaultInFlight       = 4096
	defaultConfirmTimeout = 30 * time.Second
	// coreFlushEvery is how often core mode flushes a partial batch: often
	// enough that a slow trickle of messages is reported promptly.
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
		win:     newWindow(inFlight),
		closing: make(chan struct{}),
		stopped: make(chan struct{}),
		seenErr: c.nc.LastError(),
	}
	if o.Core {
		cp := &coreProducer{producer: p, kick: make(chan struct{}, 1), flushAt: max(1, inFlight/2)}
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

// noStreamHint is what a producer with one destination can do when no
// stream captures it.
const noStreamHint = " (use --core to publish without confirm)"

// checkStream fails unless a JetStream stream captures subject: without
// one, every publish would wait for a PubAck that never comes. hint ends
// the messages of a missing stream or JetStream.
func (c *Conn) checkStream(ctx context.Context, subject, hint string) error {
	_, err := c.js.StreamNameBySubject(ctx, subject)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return mqerr.New(mqerr.NotFound, "no JetStream stream captures subject %q%s", subject, hint)
	case jetStreamMissing(err):
		return mqerr.New(mqerr.NotFound, "JetStream is not enabled on nats at %s%s", c.hosts, hint)
	case errors.Is(err, context.Canceled):
		return err
	case violation(c.nc.LastError(), `"$JS.API.`):
		return mqerr.New(mqerr.Auth, "nats at %s denied this user the JetStream API: %s", c.hosts, reason(c.nc.LastError()))
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return mqerr.New(mqerr.Unreachable, "no response from JetStream at %s while looking up the stream for subject %q", c.hosts, subject)
	}
	return fmt.Errorf("look up the JetStream stream for subject %q at %s: %s", subject, c.hosts, reason(err))
}

// checkSubject accepts a literal subject: publishing to a wildcard is
// meaningless and whitespace would break the protocol line.
func checkSubject(s string) error {
	if s == "" {
		return mqerr.Usagef("nats: a subject to publish to is required")
	}
	return checkTokens(s, true)
}

// checkTokens applies the rules every subject follows: no whitespace or
// control characters, no empty token. A literal subject has no wildcard;
// otherwise '>' may only be the last token.
func checkTokens(s string, literal bool) error {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return mqerr.Usagef("nats subject %q contains whitespace or a control character", s)
		}
	}
	toks := strings.Split(s, ".")
	for i, tok := range toks {
		switch {
		case tok == "":
			return mqerr.Usagef("nats subject %q has an empty token", s)
		case literal && (tok == "*" || tok == ">"):
			return mqerr.Usagef("nats subject %q has a wildcard; publishing needs a literal subject", s)
		case tok == ">" && i != len(toks)-1:
			return mqerr.Usagef("nats subject %q: the wildcard '>' must be the last token", s)
		}
	}
	return nil
}

// natsMsg turns m into a nats.Msg for subject. NATS keeps the values of one
// header name in order, but not the order across names (nats.Header is a
// map), and it silently trims and rewrites values, so a value it could not
// carry unchanged fails the message instead.
func natsMsg(subject string, m *broker.Message) (*nats.Msg, error) {
	msg := &nats.Msg{Subject: subject, Data: m.Value}
	if len(m.Headers) == 0 && m.NATS.MsgID == "" {
		return msg, nil
	}
	h := make(nats.Header, len(m.Headers)+1)
	for _, hd := range m.Headers {
		if err := checkHeader(hd.Key, hd.Value); err != nil {
			return nil, err
		}
		h.Add(hd.Key, string(hd.Value))
	}
	if id := m.NATS.MsgID; id != "" {
		if err := checkHeader(jetstream.MsgIDHeader, []byte(id)); err != nil {
			return nil, err
		}
		if old := h[jetstream.MsgIDHeader]; len(old) > 1 || len(old) == 1 && old[0] != id {
			return nil, mqerr.Usagef("message id %q conflicts with its %s header %q", id, jetstream.MsgIDHeader, old[0])
		}
		h[jetstream.MsgIDHeader] = []string{id}
	}
	msg.Header = h
	return msg, nil
}

// checkHeader applies NATS's rules (ADR-4 as nats.go enforces them) with an
// error that names the header: nats.go would reject a bad name with a bare
// "bad header", and would replace CR/LF and trim spaces in a value.
func checkHeader(key string, value []byte) error {
	if key == "" {
		return mqerr.Usagef("header with an empty name: NATS header names must not be empty")
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < '!' || c > '~' || strings.IndexByte(`"()/,:;<=>?@[\]{}`, c) >= 0 {
			return mqerr.Usagef("header name %q is not valid on NATS: use printable ASCII without spaces or any of \"()/,:;<=>?@[\\]{}", key)
		}
	}
	if len(value) > 0 && (isSpace(value[0]) || isSpace(value[len(value)-1])) {
		return mqerr.Usagef("header %q: NATS would trim the leading or trailing whitespace of its value", key)
	}
	for _, c := range value {
		if c == '\r' || c == '\n' {
			return mqerr.Usagef("header %q: a NATS header value cannot contain CR or LF", key)
		}
		if c < ' ' && c != '\t' || c == 0x7f {
			return mqerr.Usagef("header %q: a NATS header value cannot contain control characters", key)
		}
	}
	if !utf8.Valid(value) {
		return mqerr.Usagef("header %q: a NATS header value must be text (UTF-8)", key)
	}
	return nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// maxKnownSubjects bounds what routes remembers: a replay to subjects
// such as orders.<id> would otherwise keep an entry per message. Past it
// routes starts over, which costs a look-up per subject again, not memory.
var maxKnownSubjects = 10000

// routes checks, with PerMessageDestination, that a stream captures each
// message's subject, asking the server once per subject (up to
// maxKnownSubjects subjects).
type routes struct {
	c  *Conn
	mu sync.Mutex
	// known maps a subject to nil (a stream captures it) or to why
	// messages to it fail; answers that may change within a run (a
	// timeout) are not kept.
	known map[string]error
}

// subject returns where m goes, or why it cannot go there.
func (r *routes) subject(ctx context.Context, m *broker.Message) (string, error) {
	s := m.NATS.Subject
	if s == "" {
		return "", mqerr.Usagef("nats: the message names no subject to publish to")
	}
	r.mu.Lock()
	err, ok := r.known[s]
	r.mu.Unlock()
	if ok {
		return s, err
	}
	// Looked up without the lock: two publishers asking about the same
	// new subject at once cost one extra request, not a stall.
	err = checkSubject(s)
	if err == nil {
		err = r.c.checkStream(ctx, s, "")
	}
	if k := mqerr.KindOf(err); err == nil || k == mqerr.Usage || k == mqerr.NotFound || k == mqerr.Auth {
		r.mu.Lock()
		if len(r.known) >= maxKnownSubjects {
			clear(r.known)
		}
		r.known[s] = err
		r.mu.Unlock()
	}
	return s, err
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
	win     *window
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
func (p *producer) Flush(ctx context.Context) error { return p.win.wait(ctx) }

// shut marks the producer closed, which fails the publishes waiting for
// room, and waits for the background goroutine to return.
func (p *producer) shut() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.closing)
	}
	p.mu.Unlock()
	<-p.stopped
}

// admit prepares m and, when the producer is open, returns it with p.mu
// held for the send. nil means done was already called (a bad message, a
// closed producer) and p.mu is not held.
func (p *producer) admit(ctx context.Context, m *broker.Message, done func(broker.Receipt, error)) *nats.Msg {
	msg := p.prepare(ctx, m, done)
	if msg == nil {
		return nil
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.win.settle(done, broker.Receipt{}, errClosed)
		return nil
	}
	return msg
}

// prepare builds the message and takes a window slot; on failure done has
// been called and nil is returned.
func (p *producer) prepare(ctx context.Context, m *broker.Message, done func(broker.Receipt, error)) *nats.Msg {
	subject := p.subject
	if p.routes != nil {
		var err error
		if subject, err = p.routes.subject(ctx, m); err != nil {
			done(broker.Receipt{}, err)
			return nil
		}
	}
	msg, err := natsMsg(subject, m)
	if err != nil {
		done(broker.Receipt{}, err)
		return nil
	}
	if err := p.win.acquire(ctx, p.closing); err != nil {
		done(broker.Receipt{}, err)
		return nil
	}
	return msg
}

// CheckMessage implements broker.MessageChecker: m is refused as Publish
// would refuse it (headers NATS cannot carry unchanged, a conflicting
// message id).
func (p *producer) CheckMessage(m *broker.Message) error {
	subject := p.subject
	if subject == "" {
		subject = "check"
	}
	_, err := natsMsg(subject, m)
	return err
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

// errClosed fails messages in flight or waiting when Close is called.
var errClosed = errors.New("producer closed before the message was confirmed")

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
	msg := p.admit(ctx, m, done)
	if msg == nil {
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
	p.win.release(freed)
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
	p.win.release(freed)
}

// failSubject fails the messages in flight to subject.
func (p *jsProducer) failSubject(subject string, err error) {
	dones, freed := p.sent.takeSubject(subject)
	for _, done := range dones {
		done(broker.Receipt{}, err)
	}
	p.win.release(freed)
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
			p.win.release(freed)
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

// Publish implements broker.Producer.
func (p *coreProducer) Publish(ctx context.Context, m *broker.Message, done func(broker.Receipt, error)) {
	msg := p.admit(ctx, m, done)
	if msg == nil {
		return
	}
	// Sent under mu, so a batch the flusher takes holds only messages
	// written before its PING.
	if err := p.nc.PublishMsg(msg); err != nil {
		p.mu.Unlock()
		p.win.settle(done, broker.Receipt{}, p.sendErr(err, msg))
		return
	}
	p.batch = append(p.batch, done)
	full := len(p.batch) >= p.flushAt
	p.mu.Unlock()
	if full {
		p.nudge()
	}
}

func (p *coreProducer) nudge() { signal(p.kick) }

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

// flusher flushes the connection whenever a batch is full, and every few
// milliseconds for a partial one, and settles the batch.
func (p *coreProducer) flusher() {
	defer close(p.stopped)
	ticker := time.NewTicker(coreFlushEvery)
	defer ticker.Stop()
	for {
		select {
		case <-p.kick:
		case <-ticker.C:
		case <-p.closing:
			p.mu.Lock()
			b := p.batch
			p.batch = nil
			p.mu.Unlock()
			p.settleBatch(b, broker.Receipt{}, errClosed)
			return
		}
		p.flush()
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
		p.settleBatch(b, broker.Receipt{Unconfirmed: true}, nil)
	}
	clear(b)
	p.spare = b
}

func (p *coreProducer) settleBatch(b []func(broker.Receipt, error), r broker.Receipt, err error) {
	for _, done := range b {
		done(r, err)
	}
	p.win.release(len(b))
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

// window bounds the messages in flight and lets Flush wait for the ones
// published so far. It counts with atomics: a publisher and the ack
// handler only meet on a channel when the window is full.
type window struct {
	size int64
	// used counts the messages between acquire and release.
	used atomic.Int64
	// sleepers counts the acquires waiting for room; space (capacity 1)
	// wakes one of them.
	sleepers atomic.Int32
	space    chan struct{}

	published atomic.Uint64
	settled   atomic.Uint64
	// waiting counts the Flush calls waiting, so that release only locks
	// when there is one.
	waiting atomic.Int32
	mu      sync.Mutex
	waiters []waiter
}

type waiter struct {
	target uint64
	ch     chan struct{}
}

func newWindow(size int) *window {
	return &window{size: int64(size), space: make(chan struct{}, 1)}
}

// acquire takes a slot, waiting while the window is full.
func (w *window) acquire(ctx context.Context, closing <-chan struct{}) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for w.used.Add(1) > w.size {
		w.used.Add(-1)
		if err := w.sleep(ctx, closing); err != nil {
			return err
		}
	}
	w.published.Add(1)
	if w.sleepers.Load() > 0 && w.used.Load() < w.size {
		// One release can free several slots but wakes one sleeper;
		// pass the wake on.
		w.nudge()
	}
	return nil
}

// sleep waits until a release may have made room.
func (w *window) sleep(ctx context.Context, closing <-chan struct{}) error {
	w.sleepers.Add(1)
	defer w.sleepers.Add(-1)
	// A release between the failed acquire and the line above saw no
	// sleeper; look again.
	if w.used.Load() < w.size {
		return nil
	}
	select {
	case <-w.space:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-closing:
		return errClosed
	}
}

func (w *window) nudge() { signal(w.space) }

// settle calls done and then frees the message's slot, so that Flush
// returns only after the done calls.
func (w *window) settle(done func(broker.Receipt, error), r broker.Receipt, err error) {
	done(r, err)
	w.release(1)
}

func (w *window) release(n int) {
	if n == 0 {
		return
	}
	w.used.Add(-int64(n))
	w.settled.Add(uint64(n))
	if w.sleepers.Load() > 0 {
		w.nudge()
	}
	if w.waiting.Load() > 0 {
		w.wake()
	}
}

// wake releases the waiters whose messages are all settled.
func (w *window) wake() {
	settled := w.settled.Load()
	w.mu.Lock()
	kept := w.waiters[:0]
	for _, wt := range w.waiters {
		if settled >= wt.target {
			close(wt.ch)
		} else {
			kept = append(kept, wt)
		}
	}
	w.waiters = kept
	w.waiting.Store(int32(len(kept)))
	w.mu.Unlock()
}

// wait returns once every message published before the call is settled.
func (w *window) wait(ctx context.Context) error {
	target := w.published.Load()
	if w.settled.Load() >= target {
		return nil
	}
	ch := make(chan struct{})
	w.mu.Lock()
	w.waiters = append(w.waiters, waiter{target, ch})
	w.waiting.Add(1)
	w.mu.Unlock()
	// A release between the check above and the registration saw no
	// waiter; look again.
	w.wake()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
