package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/broker/inflight"
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
// name as the key; AMQP.Exchange is not used, and Message.Key goes in the
// header broker.KeyHeader (AMQP has no message key). done is
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
		if o.NoConfirm {
			return nil, mqerr.Usagef("rabbitmq: publishing without confirms sends to one destination, not to each message's own")
		}
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
		noConfirm:  o.NoConfirm,
		timeout:    timeout,
		tick:       min(max(timeout/10, 5*time.Millisecond), time.Second),
		win:        inflight.New(inFlight),
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
		fmt.Sprintf("rabbitmq at %s: opening a channel to publish: %s", c.addr, broker.TransportReason(ctx, context.DeadlineExceeded)))
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
	if o.NoConfirm {
		return ch, nil
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
	if p.noConfirm {
		// No confirm will come: run waits on a nil channel.
		return
	}
	// Room for every confirm the window allows, so the library's reader
	// never waits for run.
	p.confirms = ch.NotifyPublish(make(chan amqp.Confirmation, p.win.Size()))
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
	// noConfirm: the channel is not in confirm mode (publishUnconfirmed).
	noConfirm bool
	// returnedUnconfirmed counts basic.returns that came without confirms,
	// after done had reported their message written; Flush reports them.
	returnedUnconfirmed atomic.Int64
	timeout             time.Duration
	// tick is how often run looks for timed-out messages and advances
	// clock, the coarse time Publish stamps messages with (time.Now costs
	// about a microsecond on some virtual machines).
	tick  time.Duration
	clock atomic.Int64

	// win is the in-flight window: a slot from Publish until done was
	// called. Flush waits for it to empty.
	win *inflight.Window
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
	if err := p.win.Acquire(ctx); err != nil {
		done(broker.Receipt{}, err)
		return
	}
	key := p.routingKey(m)
	if p.noConfirm {
		p.publishUnconfirmed(m, key, pub, done)
		return
	}
	// Read before m is listed as pending: a channel closing meanwhile
	// fails it at once, and after done the caller may reuse m.
	exchange := p.exchangeOf(m)
	sent := p.clock.Load()

	p.pubMu.Lock()
	p.mu.Lock()
	if p.err != nil {
		err := p.err
		p.mu.Unlock()
		p.pubMu.Unlock()
		done(broker.Receipt{}, err)
		p.win.Release(1)
		return
	}
	tag := p.next
	p.next++
	p.pending[tag] = entry{m: m, done: done, sent: sent}
	p.mu.Unlock()
	err = p.ch.Publish(exchange, key, p.mandatory, false, pub)
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
	p.win.Release(1)
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

// Flush implements broker.Producer. A Publish holds its slot from before
// it takes a delivery tag until its done returned, and never waits on
// Flush while it holds one (only on pubMu and on run failing the messages
// of a closed channel), so Flush also waits for a Publish under way.
func (p *producer) Flush(ctx context.Context) error {
	if err := p.win.Wait(ctx); err != nil || !p.noConfirm {
		return err
	}
	return p.unconfirmedErr()
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
