package rabbitmq

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// Producer defaults, used when ProducerOptions leaves them zero.
const (
	defaultInFlight       = 1000
	defaultConfirmTimeout = 30 * time.Second
)

var _ broker.Publisher = (*Conn)(nil)

// NewProducer implements broker.Publisher: it checks that the exchange (or,
// with o.DestinationIsQueue, the queue) exists, then publishes on a channel
// of its own in confirm mode. A message is done when the broker acked it;
// a nack, a basic.return (with o.Mandatory), a closed channel or
// connection, or no confirm within o.ConfirmTimeout fails it. Messages
// go to the exchange with their AMQP routing key, or to the queue with its
// name as the key; Message.Key and AMQP.Exchange are not used. done is
// called from a goroutine of the producer, which waits for it: it must not
// call Publish, Flush or Close of the same producer.
//
// A closed channel is not reopened: what closes a publishing channel (a
// deleted exchange, a revoked permission, a message over the broker's size
// limit) would mostly close the next one too, and the messages in flight
// fail either way. Every later Publish fails at once with the same reason,
// so the command reports them and can write them out for a retry.
//
// With o.PerMessageDestination each message goes to its AMQP.Exchange
// with its AMQP.RoutingKey, and o.Destination is not used. One message's
// destination must not stop the others, so there it is different: the
// first message to an exchange checks that it exists (a passive declare
// on a channel of its own, remembered for the producer's life), and a
// missing one fails that message with an mqerr.NotFound error without
// touching the publishing channel. When the broker closes the channel
// anyway (an exchange deleted since it was checked, a refused write),
// the messages in flight on it fail with the reason and the producer
// opens another; only a closed connection ends it.
func (c *Conn) NewProducer(ctx context.Context, o broker.ProducerOptions) (broker.Producer, error) {
	if o.InFlight < 0 {
		return nil, mqerr.Usagef("rabbitmq: in-flight window must be positive, got %d", o.InFlight)
	}
	if o.ConfirmTimeout < 0 {
		return nil, mqerr.Usagef("rabbitmq: confirm timeout must be positive, got %s", o.ConfirmTimeout)
	}
	if o.PerMessageDestination {
		o.Destination, o.DestinationIsQueue = "", false
	}
	if o.DestinationIsQueue && o.Destination == "" {
		return nil, mqerr.Usagef("rabbitmq: a queue name to publish to is required")
	}
	if err := checkShort("destination", o.Destination); err != nil {
		return nil, err
	}
	inFlight, timeout := o.InFlight, o.ConfirmTimeout
	if inFlight == 0 {
		inFlight = defaultInFlight
	}
	if timeout == 0 {
		timeout = defaultConfirmTimeout
	}
	ch, err := c.openPublishChannel(ctx, o)
	if err != nil {
		return nil, err
	}
	p := &producer{
		c:          c,
		ch:         ch,
		addr:       c.addr,
		perMessage: o.PerMessageDestination,
		exchanges:  map[string]error{},
		mandatory:  o.Mandatory,
		persistent: o.Persistent,
		timeout:    timeout,
		tick:       min(max(timeout/10, 5*time.Millisecond), time.Second),
		slots:      make(chan struct{}, inFlight),
		pending:    make(map[uint64]entry, inFlight),
		oldest:     1,
		next:       1,
		kick:       make(chan struct{}, 1),
		reported:   make(chan struct{}),
		failed:     make(chan struct{}),
	}
	p.clock.Store(time.Now().UnixNano())
	if o.DestinationIsQueue {
		p.queue = o.Destination
	} else {
		p.exchange = o.Destination
	}
	p.listen(ch)
	go p.run()
	go p.report()
	return p, nil
}

// openPublishChannel checks the destination and opens the confirm-mode
// channel, within ctx: amqp091's calls take no context, so they run aside
// and a channel that comes too late is closed.
func (c *Conn) openPublishChannel(ctx context.Context, o broker.ProducerOptions) (*amqp.Channel, error) {
	return aside(ctx, func() (*amqp.Channel, error) { return c.confirmChannel(o) }, func(ch *amqp.Channel) { ch.Close() },
		fmt.Sprintf("rabbitmq at %s: opening a channel to publish: interrupted", c.addr),
		fmt.Sprintf("rabbitmq at %s did not answer in time while opening a channel to publish", c.addr))
}

// confirmChannel checks the destination on a throwaway channel (a failed
// passive declare closes the channel it ran on), then opens the publishing
// channel in confirm mode.
func (c *Conn) confirmChannel(o broker.ProducerOptions) (*amqp.Channel, error) {
	what := "exchange"
	if o.DestinationIsQueue {
		what = "queue"
	}
	if o.DestinationIsQueue || o.Destination != "" {
		check, err := c.conn.Channel()
		if err != nil {
			return nil, c.destinationError(err, what, o.Destination)
		}
		if o.DestinationIsQueue {
			_, err = check.QueueDeclarePassive(o.Destination, false, false, false, false, nil)
		} else {
			err = check.ExchangeDeclarePassive(o.Destination, amqp.ExchangeDirect, false, false, false, false, nil)
		}
		check.Close()
		if err != nil {
			return nil, c.destinationError(err, what, o.Destination)
		}
	}
	ch, err := c.conn.Channel()
	if err != nil {
		return nil, c.destinationError(err, what, o.Destination)
	}
	if err := ch.Confirm(false); err != nil {
		ch.Close()
		return nil, c.destinationError(err, what, o.Destination)
	}
	return ch, nil
}

// listen subscribes run to what ch tells about the messages published on
// it.
func (p *producer) listen(ch *amqp.Channel) {
	p.closes = ch.NotifyClose(make(chan *amqp.Error, 1))
	// Unbuffered on purpose: see run.
	p.returns = ch.NotifyReturn(make(chan amqp.Return))
	// Room for every confirm the window allows, so the library's reader
	// never waits for run.
	p.confirms = ch.NotifyPublish(make(chan amqp.Confirmation, cap(p.slots)))
}

// destinationError classifies a failure to check the destination or to
// open the channel.
func (c *Conn) destinationError(err error, what, name string) error {
	var aerr *amqp.Error
	switch {
	case errors.As(err, &aerr) && aerr.Code == amqp.NotFound:
		return mqerr.New(mqerr.NotFound, "rabbitmq at %s: %s %q does not exist in vhost %q", c.addr, what, name, c.vhost)
	case errors.As(err, &aerr) && aerr.Code == amqp.AccessRefused:
		return mqerr.New(mqerr.Auth, "rabbitmq at %s: access to %s %q in vhost %q refused: %s", c.addr, what, name, c.vhost, aerr.Reason)
	case errors.Is(err, amqp.ErrClosed):
		return mqerr.New(mqerr.Unreachable, "rabbitmq at %s: the connection is closed", c.addr)
	case errors.As(err, &aerr):
		return mqerr.New(mqerr.Failure, "rabbitmq at %s: %s %q: %s", c.addr, what, name, aerr.Reason)
	}
	return mqerr.New(mqerr.Failure, "rabbitmq at %s: %s %q: %v", c.addr, what, name, err)
}

// producer publishes on one confirm-mode channel. Publish records each
// message under the delivery tag the channel gives it; run learns its
// fate (ack, nack, return, timeout, close) and queues the result; report
// calls done. done runs on its own goroutine so a slow callback never
// holds up run, which must always be ready to take a return (see run).
type producer struct {
	c *Conn
	// ch is replaced only with PerMessageDestination, by run holding
	// pubMu and mu, so Publish reads it under pubMu and Close under mu.
	ch       *amqp.Channel
	addr     string
	exchange string // "" is the default exchange
	queue    string // set when publishing to a queue through the default exchange
	// perMessage sends each message to its own AMQP.Exchange.
	perMessage bool
	mandatory  bool
	persistent bool
	timeout    time.Duration
	// tick is how often run looks for timed-out messages and advances
	// clock, the coarse time Publish stamps messages with (time.Now costs
	// about a microsecond on some virtual machines).
	tick  time.Duration
	clock atomic.Int64

	// slots is the in-flight window: a token from Publish until done was
	// called.
	slots chan struct{}
	// confirms, returns and closes are of the current channel; run alone
	// reads and replaces them.
	confirms chan amqp.Confirmation
	returns  chan amqp.Return
	closes   chan *amqp.Error

	// exchanges caches, with PerMessageDestination, the exchanges checked
	// so far: nil when one exists, its mqerr.NotFound error when not.
	exchangesMu sync.Mutex
	exchanges   map[string]error

	// pubMu keeps delivery tags in publish order: it is held from taking
	// a tag until the channel sent the message, which numbers it the same.
	pubMu sync.Mutex

	mu sync.Mutex
	// pending holds the messages published and not yet confirmed, by
	// delivery tag; tags oldest..next-1 are all that can be in it.
	pending      map[uint64]entry
	oldest, next uint64
	// finished are results waiting for report; spare is a reused buffer.
	finished, spare []result
	kick            chan struct{}
	// unreported counts messages published and not yet reported; Flush
	// waits on idle for it to reach 0.
	unreported int
	idle       []chan struct{}
	// err, once set, fails every later Publish: the channel closed, or
	// Close was called.
	err error
	// stopped: run has failed everything still pending for good.
	stopped bool
	// failed is closed once run has failed the messages pending on the
	// current channel, because it closed; replaced with the channel.
	failed chan struct{}
	// reported is closed when report has called every done.
	reported  chan struct{}
	closeOnce sync.Once
	closeErr  error
}

type entry struct {
	m    *broker.Message
	done func(broker.Receipt, error)
	// sent is clock when it was published: up to one tick early.
	sent int64
	// returned is set by a basic.return; the ack that follows fails the
	// message with it.
	returned error
}

type result struct {
	done func(broker.Receipt, error)
	r    broker.Receipt
	err  error
}

var errNacked = errors.New("nacked by the broker")

// Publish implements broker.Producer.
func (p *producer) Publish(ctx context.Context, m *broker.Message, done func(broker.Receipt, error)) {
	if err := ctx.Err(); err != nil {
		done(broker.Receipt{}, err)
		return
	}
	pub, err := p.publishing(m)
	if err == nil && p.perMessage {
		err = p.checkExchange(m.AMQP.Exchange)
	}
	if err != nil {
		done(broker.Receipt{}, err)
		return
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		done(broker.Receipt{}, ctx.Err())
		return
	}
	key := p.routingKey(m)
	sent := p.clock.Load()

	p.pubMu.Lock()
	p.mu.Lock()
	if p.err != nil {
		err := p.err
		p.mu.Unlock()
		p.pubMu.Unlock()
		<-p.slots
		done(broker.Receipt{}, err)
		return
	}
	tag := p.next
	p.next++
	p.pending[tag] = entry{m: m, done: done, sent: sent}
	p.unreported++
	p.mu.Unlock()
	err = p.ch.Publish(p.exchangeOf(m), key, p.mandatory, false, pub)
	if err == nil {
		p.pubMu.Unlock()
		return
	}
	if closing(p.ch, err) {
		// run fails it, with the reason the channel closed.
		failed := p.failed
		p.pubMu.Unlock()
		<-failed
		return
	}
	// The channel did not take the message and gave its tag back: fail it
	// here, unless run failed it meanwhile.
	p.mu.Lock()
	_, mine := p.pending[tag]
	if mine {
		delete(p.pending, tag)
		p.next--
		if p.err != nil {
			err = p.err
		} else {
			err = fmt.Errorf("rabbitmq at %s: publish: %w", p.addr, err)
		}
	}
	p.mu.Unlock()
	p.pubMu.Unlock()
	if !mine {
		return
	}
	done(broker.Receipt{}, err)
	<-p.slots
	p.mu.Lock()
	p.doneReporting(1)
	p.mu.Unlock()
}

// closing reports a publish that failed because the channel or its
// connection is closing: run then learns why (NotifyClose) and fails the
// message with that reason. amqp091 refuses a publish with ErrClosed as
// soon as the connection is closed, before it marks the channel closed and
// tells its listeners, so IsClosed alone races with the close: the same
// failure read "channel/connection is not open" or the broker's reason.
func closing(ch *amqp.Channel, err error) bool {
	return ch.IsClosed() || errors.Is(err, amqp.ErrClosed)
}

// CheckMessage implements broker.MessageChecker: m is refused as Publish
// would refuse it.
func (p *producer) CheckMessage(m *broker.Message) error {
	_, err := p.publishing(m)
	return err
}

// exchangeOf is where m goes: its own exchange with PerMessageDestination.
func (p *producer) exchangeOf(m *broker.Message) string {
	if p.perMessage {
		return m.AMQP.Exchange
	}
	return p.exchange
}

// checkExchange returns an mqerr.NotFound error when exchange does not
// exist: publishing to it would make the broker close the channel and so
// fail every message in flight, not only this one. The default exchange
// always exists. Each exchange is checked once; a failure that says
// nothing about the exchange (a closed connection) is not remembered.
func (p *producer) checkExchange(name string) error {
	if name == "" {
		return nil
	}
	p.exchangesMu.Lock()
	err, known := p.exchanges[name]
	p.exchangesMu.Unlock()
	if known {
		return err
	}
	if err := checkShort("exchange", name); err != nil {
		return err
	}
	ch, err := p.c.conn.Channel()
	if err == nil {
		err = ch.ExchangeDeclarePassive(name, amqp.ExchangeDirect, false, false, false, false, nil)
		ch.Close()
	}
	if err != nil {
		err = p.c.destinationError(err, "exchange", name)
		if !mqerr.Is(err, mqerr.NotFound) {
			return err
		}
	}
	p.exchangesMu.Lock()
	p.exchanges[name] = err
	p.exchangesMu.Unlock()
	return err
}

// routingKey: through the default exchange to a queue, the key is the
// queue's name, whatever the message says (produce --queue Q puts every
// message in Q).
func (p *producer) routingKey(m *broker.Message) string {
	if p.queue != "" {
		return p.queue
	}
	return m.AMQP.RoutingKey
}

// publishing builds the AMQP message, or says why m cannot be sent. Fields
// the broker would reject by closing the channel (which fails everything in
// flight) are checked here, so only the bad message fails.
func (p *producer) publishing(m *broker.Message) (amqp.Publishing, error) {
	a := &m.AMQP
	for _, f := range [...]struct{ name, v string }{
		{"routing key", p.routingKey(m)}, {"content type", a.ContentType}, {"message id", a.MessageID},
		{"correlation id", a.CorrelationID}, {"reply-to", a.ReplyTo}, {"type", a.Type}, {"app id", a.AppID},
	} {
		if err := checkShort(f.name, f.v); err != nil {
			return amqp.Publishing{}, err
		}
	}
	if a.Expiration != "" {
		if _, err := strconv.ParseUint(a.Expiration, 10, 32); err != nil {
			return amqp.Publishing{}, mqerr.Usagef("expiration %q is not a whole number of milliseconds (0 to 4294967295)", a.Expiration)
		}
	}
	pub := amqp.Publishing{
		Body:          m.Value,
		ContentType:   a.ContentType,
		MessageId:     a.MessageID,
		CorrelationId: a.CorrelationID,
		ReplyTo:       a.ReplyTo,
		Expiration:    a.Expiration,
		Priority:      a.Priority,
		Type:          a.Type,
		AppId:         a.AppID,
	}
	if p.persistent || a.Persistent {
		pub.DeliveryMode = amqp.Persistent
	}
	if !m.Timestamp.IsZero() {
		pub.Timestamp = m.Timestamp
	}
	if len(m.Headers) > 0 {
		pub.Headers = make(amqp.Table, len(m.Headers))
		for _, h := range m.Headers {
			if _, dup := pub.Headers[h.Key]; dup {
				return amqp.Publishing{}, mqerr.Usagef("repeated header name %q cannot be sent to RabbitMQ (AMQP headers are a table: one value per name)", h.Key)
			}
			if err := checkShort("header name", h.Key); err != nil {
				return amqp.Publishing{}, err
			}
			pub.Headers[h.Key] = headerValue(h.Value)
		}
	}
	return pub, nil
}

// headerValue sends text as an AMQP string and anything else as a byte
// array, which consumers get back unchanged.
func headerValue(v []byte) any {
	if v == nil {
		return nil // void, which a null header value in a dump stands for
	}
	if utf8.Valid(v) {
		return string(v)
	}
	return v
}

// checkShort rejects what does not fit an AMQP short string: amqp091 would
// fail the publish halfway through its frames and break the connection.
func checkShort(name, v string) error {
	if len(v) > 255 {
		return mqerr.Usagef("%s is %d bytes long; AMQP allows at most 255", name, len(v))
	}
	return nil
}

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
			p.markReturned(r)
		case e := <-p.closes:
			// Confirms the reader got before the close are real: take them.
			for c := range p.confirms {
				p.confirm(c)
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
	a := &m.AMQP
	if r.Exchange != p.exchangeOf(m) || r.RoutingKey != p.routingKey(m) || !bytes.Equal(r.Body, m.Value) || r.MessageId != a.MessageID ||
		r.CorrelationId != a.CorrelationID || r.Type != a.Type || r.AppId != a.AppID ||
		r.ContentType != a.ContentType || len(r.Headers) != len(m.Headers) {
		return false
	}
	for _, h := range m.Headers {
		switch v := r.Headers[h.Key].(type) {
		case string:
			if v != string(h.Value) {
				return false
			}
		case []byte:
			if !bytes.Equal(v, h.Value) {
				return false
			}
		default:
			return false
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
			<-p.slots
		}
		clear(batch)
		p.mu.Lock()
		p.spare = batch[:0]
		p.doneReporting(len(batch))
		p.mu.Unlock()
	}
}

// doneReporting counts n messages as reported and releases the Flush
// callers once none is left. p.mu is held.
func (p *producer) doneReporting(n int) {
	p.unreported -= n
	if p.unreported == 0 {
		for _, w := range p.idle {
			close(w)
		}
		p.idle = nil
	}
}

// Flush implements broker.Producer.
func (p *producer) Flush(ctx context.Context) error {
	p.mu.Lock()
	if p.unreported == 0 {
		p.mu.Unlock()
		return nil
	}
	w := make(chan struct{})
	p.idle = append(p.idle, w)
	p.mu.Unlock()
	select {
	case <-w:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close implements broker.Producer: it closes the channel; messages not
// confirmed by then fail. When it returns, every done has been called. It
// must not be called from a done callback, which Close waits for.
func (p *producer) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		if p.err == nil {
			p.err = fmt.Errorf("rabbitmq at %s: the producer is closed", p.addr)
		}
		ch := p.ch
		p.mu.Unlock()
		if err := ch.Close(); err != nil && !errors.Is(err, amqp.ErrClosed) {
			p.closeErr = fmt.Errorf("rabbitmq at %s: closing the publishing channel: %w", p.addr, err)
		}
		<-p.reported
	})
	return p.closeErr
}
