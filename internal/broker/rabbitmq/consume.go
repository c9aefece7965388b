package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// Consumer defaults and bounds.
const (
	defaultPrefetch = 100
	// maxPrefetch: basic.qos carries the prefetch count in 16 bits.
	maxPrefetch = 65535
	// slabSize deliveries and headerSlab headers are allocated at once,
	// instead of one allocation per message.
	slabSize   = 64
	headerSlab = 256
)

var (
	_ broker.Subscriber   = (*Conn)(nil)
	_ broker.StaleChecker = (*delivery)(nil)
)

// consumerTag names mqctl's consumer on its channel (a tag is local to
// its channel, and each session has its own), for StopFetching's cancel.
const consumerTag = "mqctl"

// errConsumerClosed is what Next returns once Close was called.
var errConsumerClosed = errors.New("rabbitmq: the consumer is closed")

// NewConsumer implements broker.Subscriber for exactly one queue. It opens
// a connection of its own (so a reconnect never disturbs the Conn's other
// roles), checks the queue with a passive declare, sets basic.qos to
// o.Prefetch (default 100) and consumes with manual acks.
//
// Settling maps the verbs to AMQP: Ack is basic.ack; Nack is basic.nack
// with requeue (a Delay cannot be honoured: AMQP requeues at once, and
// o.Logf says so once); Term is basic.reject without requeue, which
// dead-letters through the queue's DLX if it has one; InProgress does
// nothing (AMQP has no ack deadline to extend).
//
// When the connection or channel closes, Next reconnects with backoff and
// subscribes again; the broker redelivers what was unacked, marked
// redelivered, and a settle of a delivery from the old channel fails with
// broker.ErrStaleDelivery, which the delivery's Stale (broker.StaleChecker)
// tells beforehand. A queue deleted while consuming ends Next with
// an mqerr.NotFound error.
//
// o.Peek holds deliveries unacked (so at most o.Prefetch are seen), makes
// Settle a no-op, and returns them with nack+requeue at Close, which marks
// them redelivered. A reconnect returns them too, and Next then delivers
// them again.
//
// o.UntilEnd counts the queue's ready messages at the start and makes Next
// return io.EOF after that many deliveries. That is an approximation: a
// redelivery (after a Nack or a reconnect) counts again, and messages
// published since may arrive before requeued ones and take their place;
// messages taken by other consumers of the queue are never delivered here,
// so Next then waits for new ones (the caller's idle timeout ends it).
// With o.Peek it stops after o.Prefetch at most, as no more can come.
func (c *Conn) NewConsumer(ctx context.Context, o broker.ConsumerOptions) (broker.Consumer, error) {
	if err := checkConsumerOptions(o); err != nil {
		return nil, err
	}
	cs := &consumer{
		c:        c,
		queue:    o.Sources[0],
		prefetch: o.Prefetch,
		multiAck: o.MultiAck,
		peek:     o.Peek,
		untilEnd: o.UntilEnd,
		logf:     o.Logf,
	}
	if cs.prefetch == 0 {
		cs.prefetch = defaultPrefetch
	}
	if cs.logf == nil {
		cs.logf = func(string, ...any) {}
	}
	s, err := cs.connect(ctx, true)
	if err != nil {
		return nil, err
	}
	cs.sess.Store(s)
	if cs.peek {
		cs.logf("peeking at rabbitmq queue %q: up to %d messages are held unacked and go back to the queue at exit with nack+requeue, which marks them redelivered", cs.queue, cs.prefetch)
	}
	return cs, nil
}

// checkConsumerOptions rejects what a RabbitMQ queue cannot do. From is
// ignored, as the broker.ConsumerOptions contract says: a queue has no
// positions to start from. AckDeletes needs nothing: an ack removes the
// message from a queue anyway.
func checkConsumerOptions(o broker.ConsumerOptions) error {
	if len(o.Sources) != 1 {
		return mqerr.Usagef("rabbitmq consumes exactly one queue, got %d: %s", len(o.Sources), strings.Join(o.Sources, ", "))
	}
	if o.Sources[0] == "" {
		return mqerr.Usagef("rabbitmq: a queue name to consume from is required")
	}
	if err := checkShort("queue name", o.Sources[0]); err != nil {
		return err
	}
	if o.Prefetch < 0 || o.Prefetch > maxPrefetch {
		return mqerr.Usagef("rabbitmq: prefetch must be between 1 and %d, got %d", maxPrefetch, o.Prefetch)
	}
	prefetch := o.Prefetch
	if prefetch == 0 {
		prefetch = defaultPrefetch
	}
	switch {
	case o.MultiAck < 0:
		return mqerr.Usagef("rabbitmq: multi-ack %d: want 1 or more", o.MultiAck)
	case o.MultiAck > prefetch:
		return mqerr.Usagef("rabbitmq: multi-ack %d is over the prefetch %d: the broker would stop delivering before a batch of acks fills", o.MultiAck, prefetch)
	case o.MultiAck > 0 && o.Peek:
		return mqerr.Usagef("rabbitmq: multi-ack: a peek acks nothing")
	}
	for _, f := range [...]struct {
		set  bool
		what string
	}{
		{o.Group != "", "a consumer group (Kafka)"},
		{len(o.Partitions) > 0, "partitions (Kafka)"},
		{o.Durable != "", "a durable consumer (JetStream)"},
		{o.FilterSubject != "", "a filter subject (JetStream)"},
		{o.Core, "core NATS"},
		{o.QueueGroup != "", "a queue group (NATS)"},
	} {
		if f.set {
			return mqerr.Usagef("rabbitmq: %s does not apply to a RabbitMQ queue", f.what)
		}
	}
	return nil
}

// consumer reads one queue over a session that it replaces when the
// connection or channel closes. Next and Buffered run on one goroutine and
// own the fields above mu; Settle and Close may come from others.
type consumer struct {
	c        *Conn
	queue    string
	prefetch int
	// multiAck > 0 batches acks (ConsumerOptions.MultiAck).
	multiAck int
	peek     bool
	// peeked counts the deliveries Next returned, for a peek's end.
	peeked int
	logf   func(string, ...any)

	untilEnd bool
	// remaining is how many more deliveries Next returns before io.EOF
	// (with untilEnd).
	remaining int
	// held is a delivery Buffered took off the library's unbuffered
	// channel to learn that one was there; Next returns it first.
	held    amqp.Delivery
	hasHeld bool
	// slab and headers are carved up for deliveries and their headers.
	slab    []delivery
	headers []broker.Header
	// failures counts reconnect attempts since a session last delivered.
	failures int
	// err is the final error Next returns forever once set.
	err error
	// stopped is set by StopFetching: Next returns io.EOF.
	stopped bool

	delayOnce sync.Once

	// sess is the current session; nil once closed. mu orders installing
	// a new session against Close.
	sess      atomic.Pointer[session]
	mu        sync.Mutex
	closed    bool
	closeOnce sync.Once
	closeErr  error
}

// session is one connection and its consuming channel.
type session struct {
	conn *amqp.Connection
	ch   *amqp.Channel
	addr string
	// deliveries is nil when there was nothing to read (UntilEnd on an
	// empty queue).
	deliveries <-chan amqp.Delivery
	closes     chan *amqp.Error
	cancels    chan string
	// causes gets the channel's close too, for ackTimeout: closes is
	// Next's, which may read it later or not at all.
	causes       chan *amqp.Error
	causeOnce    sync.Once
	ackTimeoutAt *broker.AckTimeout
	// lastTag is the newest delivery tag Next returned: peek gives back
	// everything up to it at Close.
	lastTag atomic.Uint64
	// lost is set once the channel is known to be closed: settles of its
	// deliveries are stale.
	lost atomic.Bool
	// acks batches the acks with MultiAck; nil acks each delivery.
	acks *multiAcker
}

// delivery is a broker.Delivery and its own Settler, allocated in slabs.
type delivery struct {
	broker.Delivery
	cs      *consumer
	s       *session
	tag     uint64
	settled atomic.Bool
	// table and encoding are the headers (with their AMQP types) and the
	// content encoding as the broker sent them: a delayed retry's copy
	// keeps them (see retry.go).
	table    amqp.Table
	encoding string
}

// connect opens a session within the target's timeout and ctx. first says
// it is the consumer's first: it snapshots the ready count for UntilEnd.
func (cs *consumer) connect(ctx context.Context, first bool) (*session, error) {
	ctx, cancel := context.WithTimeout(ctx, cs.c.timeout)
	defer cancel()
	conn, addr, err := cs.c.redial(ctx)
	if err != nil {
		return nil, err
	}
	// amqp091's channel calls take no context: dropping the connection
	// when ctx ends makes them return.
	stop := context.AfterFunc(ctx, func() { conn.CloseDeadline(time.Now()) })
	s, err := cs.subscribe(conn, addr, first)
	if !stop() {
		conn.CloseDeadline(time.Now())
		if errors.Is(ctx.Err(), context.Canceled) {
			return nil, mqerr.New(mqerr.Interrupted, "rabbitmq at %s: subscribing to queue %q: interrupted", addr, cs.queue)
		}
		return nil, mqerr.New(mqerr.Unreachable, "rabbitmq at %s: subscribing to queue %q: timed out after %s", addr, cs.queue, cs.c.timeout)
	}
	if err != nil {
		conn.CloseDeadline(time.Now().Add(cs.c.timeout))
		return nil, err
	}
	return s, nil
}

// subscribe checks the queue and starts consuming on a new channel of
// conn. The passive declare runs on that same channel: a missing queue
// closes it, and then there is nothing to consume anyway.
func (cs *consumer) subscribe(conn *amqp.Connection, addr string, first bool) (*session, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, cs.c.destinationError(err, "queue", cs.queue)
	}
	s := &session{conn: conn, ch: ch, addr: addr}
	if cs.multiAck > 0 {
		s.acks = newMultiAcker(cs.multiAck)
	}
	s.closes = ch.NotifyClose(make(chan *amqp.Error, 1))
	s.causes = ch.NotifyClose(make(chan *amqp.Error, 1))
	s.cancels = ch.NotifyCancel(make(chan string, 1))
	q, err := ch.QueueDeclarePassive(cs.queue, false, false, false, false, nil)
	if err != nil {
		return nil, cs.c.destinationError(err, "queue", cs.queue)
	}
	if first && cs.untilEnd {
		cs.remaining = q.Messages
		if cs.peek && cs.remaining > cs.prefetch {
			cs.logf("peeking at rabbitmq queue %q: it holds %d ready messages, of which only the first %d (the prefetch) can be seen without acking", cs.queue, q.Messages, cs.prefetch)
			cs.remaining = cs.prefetch
		}
	}
	if cs.untilEnd && cs.remaining == 0 {
		// Nothing left to read: taking messages published since would
		// only mark them redelivered at Close.
		return s, nil
	}
	qos := cs.prefetch
	if cs.untilEnd {
		// No more in flight than Next will return.
		qos = min(qos, cs.remaining)
	}
	if err := ch.Qos(qos, 0, false); err != nil {
		return nil, cs.c.destinationError(err, "queue", cs.queue)
	}
	if s.deliveries, err = ch.Consume(cs.queue, consumerTag, false, false, false, false, nil); err != nil {
		return nil, cs.c.destinationError(err, "queue", cs.queue)
	}
	return s, nil
}

// Next implements broker.Consumer.
func (cs *consumer) Next(ctx context.Context) (*broker.Delivery, error) {
	for {
		if cs.err != nil {
			return nil, cs.err
		}
		if cs.stopped || (cs.untilEnd && cs.remaining == 0) {
			return nil, io.EOF
		}
		if cs.peek && cs.peeked >= cs.prefetch {
			// Every prefetch slot holds a peeked delivery: the broker
			// sends no more until one is settled, which a peek never does.
			cs.logf("peeked at %d messages of rabbitmq queue %q, the prefetch: stopping (raise --prefetch or -n to see more)", cs.peeked, cs.queue)
			return nil, io.EOF
		}
		s := cs.sess.Load()
		if s == nil {
			return nil, errConsumerClosed
		}
		if cs.hasHeld {
			d := cs.held
			cs.held, cs.hasHeld = amqp.Delivery{}, false
			cs.peeked++
			return cs.deliver(s, &d), nil
		}
		select {
		case d, ok := <-s.deliveries:
			if ok {
				cs.peeked++
				return cs.deliver(s, &d), nil
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if err := cs.recover(ctx, s); err != nil {
			if ctx.Err() == nil {
				cs.err = err
			}
			return nil, err
		}
	}
}

// Buffered implements broker.Consumer. amqp091 hands deliveries over an
// unbuffered channel, so Buffered takes one off it when one is waiting
// and holds it for Next: the answer is 1 or 0, which is all a caller
// deciding whether to flush before it settles needs.
func (cs *consumer) Buffered() int {
	if cs.hasHeld {
		return 1
	}
	if cs.err != nil || cs.stopped || (cs.untilEnd && cs.remaining == 0) {
		return 0
	}
	s := cs.sess.Load()
	if s == nil {
		return 0
	}
	select {
	case d, ok := <-s.deliveries:
		if ok {
			cs.held, cs.hasHeld = d, true
			return 1
		}
	default:
	}
	return 0
}

// deliver fills a delivery from the slab. Body and header byte arrays are
// referenced, not copied: amqp091 allocates them for each message.
func (cs *consumer) deliver(s *session, d *amqp.Delivery) *broker.Delivery {
	if len(cs.slab) == 0 {
		cs.slab = make([]delivery, slabSize)
	}
	x := &cs.slab[0]
	cs.slab = cs.slab[1:]
	x.cs, x.s, x.tag = cs, s, d.DeliveryTag
	x.Settler = x
	x.Value = d.Body
	x.Headers = cs.convertHeaders(d.Headers)
	x.table, x.encoding = d.Headers, d.ContentEncoding
	x.Timestamp = d.Timestamp
	x.Destination = cs.queue
	x.AMQP = broker.AMQPMeta{
		Exchange:        d.Exchange,
		RoutingKey:      d.RoutingKey,
		Queue:           cs.queue,
		DeliveryTag:     d.DeliveryTag,
		Redelivered:     d.Redelivered,
		ContentType:     d.ContentType,
		MessageID:       d.MessageId,
		CorrelationID:   d.CorrelationId,
		ReplyTo:         d.ReplyTo,
		Expiration:      d.Expiration,
		Priority:        d.Priority,
		Type:            d.Type,
		AppID:           d.AppId,
		ContentEncoding: d.ContentEncoding,
		UserID:          d.UserId,
		Persistent:      d.DeliveryMode == amqp.Persistent,
		Transient:       d.DeliveryMode != amqp.Persistent,
	}
	s.lastTag.Store(d.DeliveryTag)
	if cs.untilEnd {
		cs.remaining--
	}
	cs.failures = 0
	return &x.Delivery
}

// convertHeaders turns the AMQP table into headers ordered by name (a
// table is a map, so it has no order of its own), carved from a slab.
func (cs *consumer) convertHeaders(t amqp.Table) []broker.Header {
	if len(t) == 0 {
		return nil
	}
	if cap(cs.headers)-len(cs.headers) < len(t) {
		cs.headers = make([]broker.Header, 0, max(headerSlab, len(t)))
	}
	start := len(cs.headers)
	for k, v := range t {
		cs.headers = append(cs.headers, header(k, v))
	}
	hs := cs.headers[start:len(cs.headers):len(cs.headers)]
	slices.SortFunc(hs, func(a, b broker.Header) int { return strings.Compare(a.Key, b.Key) })
	return hs
}

// recover replaces the lost session s: it says why s ended, then
// reconnects with backoff until a new session consumes, ctx ends, or the
// queue or the permission to read it is gone.
func (cs *consumer) recover(ctx context.Context, s *session) error {
	if cs.sess.Load() == nil {
		return errConsumerClosed
	}
	if s.lost.CompareAndSwap(false, true) {
		report, final := cs.lossReason(s)
		// Free the connection, which is still open when only the
		// channel closed or the consumer was cancelled.
		s.conn.CloseDeadline(time.Now().Add(cs.c.timeout))
		if final != nil {
			return final
		}
		cs.logf("%s", report)
	}
	for {
		wait := broker.Backoff(cs.failures)
		cs.failures++
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		ns, err := cs.connect(ctx, false)
		switch {
		case err == nil:
			return cs.install(ns)
		case ctx.Err() != nil:
			return ctx.Err()
		case mqerr.Is(err, mqerr.NotFound):
			return mqerr.New(mqerr.NotFound, "rabbitmq at %s: queue %q in vhost %q is gone: it was deleted while consuming", s.addr, cs.queue, cs.c.vhost)
		case mqerr.Is(err, mqerr.Auth):
			return err
		}
		cs.logf("rabbitmq: reconnecting to consume queue %q failed: %v; retrying", cs.queue, err)
	}
}

// lossReason is the line to report for the end of s, or a final error
// when it ended for good: the queue was deleted (the channel closed with
// 404), or Close was called (a clean close notifies nothing).
func (cs *consumer) lossReason(s *session) (string, error) {
	// amqp091 notifies a cancel or a close before it closes the
	// deliveries channel, so whatever was notified is there now.
	select {
	case _, ok := <-s.cancels:
		if !ok {
			// Closed with the channel, without a cancel.
			break
		}
		// Most often the queue was deleted, which subscribing again
		// finds out; a failover of a replicated queue cancels too.
		return fmt.Sprintf("rabbitmq: the broker cancelled the consumer of queue %q; subscribing again", cs.queue), nil
	default:
	}
	why := fmt.Sprintf("connection to %s closed", s.addr)
	select {
	case e, ok := <-s.closes:
		if !ok || e == nil {
			break
		}
		if e.Code == amqp.NotFound {
			return "", mqerr.New(mqerr.NotFound, "rabbitmq at %s: queue %q in vhost %q is gone: %s", s.addr, cs.queue, cs.c.vhost, e.Reason)
		}
		if at := ackTimeoutOf(e); at != nil {
			if cs.sess.Load() == nil {
				return "", errConsumerClosed
			}
			return consumerTimeoutReason(s.addr, at), nil
		}
		what := "channel"
		if !e.Server || e.Code == amqp.ConnectionForced || e.Code >= 500 {
			what = "connection"
		}
		why = fmt.Sprintf("%s to %s closed: %s", what, s.addr, e.Reason)
	default:
	}
	if cs.sess.Load() == nil {
		return "", errConsumerClosed
	}
	return fmt.Sprintf("rabbitmq connection lost: %s; reconnecting", why), nil
}

// timeoutUsed finds the timeout in the broker's consumer_timeout reason
// ("... Timeout value used: 5000 ms. ...").
var timeoutUsed = regexp.MustCompile(`Timeout value used: ([0-9]+) ms`)

// raiseConsumerTimeout says where consumer_timeout is set (broker.AckTimeout's
// Raise). RabbitMQ 3.10 and 3.11 have the node's setting alone; 3.12 added
// the queue argument and the policy key.
const raiseConsumerTimeout = "the node's consumer_timeout (RabbitMQ 3.12+: also the queue's x-consumer-timeout or a consumer-timeout policy)"

// ackTimeoutOf is the broker's ack timeout when e is the channel close it
// sends for a delivery left unacked longer than its consumer_timeout
// (PRECONDITION_FAILED "delivery acknowledgement on channel 1 timed
// out. Timeout value used: 5000 ms. ..."); nil for any other close.
func ackTimeoutOf(e *amqp.Error) *broker.AckTimeout {
	if !e.Server || e.Code != amqp.PreconditionFailed || !strings.Contains(e.Reason, "delivery acknowledgement") {
		return nil
	}
	at := &broker.AckTimeout{Setting: "consumer_timeout", Raise: raiseConsumerTimeout}
	if m := timeoutUsed.FindStringSubmatch(e.Reason); m != nil {
		if ms, err := strconv.ParseInt(m[1], 10, 64); err == nil {
			at.Limit = time.Duration(ms) * time.Millisecond
		}
	}
	return at
}

// ackTimeout is the broker's ack timeout when that is why s's channel
// closed; nil while it is open or when it closed for another reason. amqp091
// marks a channel closed just before it notifies the close, so the wait
// for that (at most wait) is short; the first answer is kept for the other
// deliveries of s.
func (s *session) ackTimeout(wait time.Duration) *broker.AckTimeout {
	if !s.ch.IsClosed() {
		return nil
	}
	s.causeOnce.Do(func() {
		select {
		case e, ok := <-s.causes:
			if ok && e != nil {
				s.ackTimeoutAt = ackTimeoutOf(e)
			}
		case <-time.After(wait):
		}
	})
	return s.ackTimeoutAt
}

// consumerTimeoutReason is the line for a channel the broker closed as a
// delivery stayed unacked longer than its consumer_timeout: a handler
// slower than that timeout, which gets the same messages again (and, as
// slow again, closes the channel again) unless the node's timeout is
// raised or the handler made faster.
func consumerTimeoutReason(addr string, at *broker.AckTimeout) string {
	limit := "consumer_timeout"
	if at.Limit > 0 {
		limit = fmt.Sprintf("consumer_timeout (%d ms)", at.Limit.Milliseconds())
	}
	return fmt.Sprintf("rabbitmq at %s: a message stayed unacked longer than the node's %s, so the broker closed the channel; the unacked messages come again (a handler slower than that repeats this: raise consumer_timeout or speed up the handler); reconnecting", addr, limit)
}

// install makes ns the current session, unless Close came first.
func (cs *consumer) install(ns *session) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed {
		ns.conn.CloseDeadline(time.Now().Add(cs.c.timeout))
		return errConsumerClosed
	}
	cs.sess.Store(ns)
	cs.logf("rabbitmq: reconnected to %s, consuming queue %q again", ns.addr, cs.queue)
	return nil
}

// StopFetching implements broker.FetchStopper: it cancels the consumer
// (basic.cancel) and requeues at once (basic.nack with requeue) what the
// broker sent up to the cancel's answer and Next did not return, so that
// another consumer gets it while the deliveries already returned are
// still being handled; those can be settled until Close. With multi-ack,
// whose acks cover ranges of tags, and when ctx ends first, what is
// prefetched goes back when Close closes the connection, as before.
func (cs *consumer) StopFetching(ctx context.Context) {
	s := cs.sess.Load()
	if cs.stopped || s == nil || cs.peek || cs.multiAck > 0 || s.deliveries == nil || s.lost.Load() || s.ch.IsClosed() {
		// A closed channel has no consumer to cancel: the broker took
		// back what it held.
		return
	}
	cs.stopped = true
	var tags []uint64
	if cs.hasHeld {
		tags = append(tags, cs.held.DeliveryTag)
		cs.held, cs.hasHeld = amqp.Delivery{}, false
	}
	// amqp091's calls take no context: the cancel runs aside, and the
	// deliveries channel closes once its answer came.
	cancelled := make(chan error, 1)
	go func() { cancelled <- s.ch.Cancel(consumerTag, false) }()
	for {
		select {
		case d, ok := <-s.deliveries:
			if ok {
				tags = append(tags, d.DeliveryTag)
				continue
			}
		case <-ctx.Done():
			cs.logf("rabbitmq: stopping the consumer of queue %q took too long; its prefetched messages go back when it closes", cs.queue)
			return
		}
		break
	}
	if err := <-cancelled; err != nil {
		cs.logf("rabbitmq: cancelling the consumer of queue %q: %v; its prefetched messages go back when it closes", cs.queue, err)
		return
	}
	for _, tag := range tags {
		if err := s.ch.Nack(tag, false, true); err != nil {
			// The rest goes back when the connection closes.
			cs.logf("rabbitmq: requeueing delivery %d of queue %q: %v", tag, cs.queue, err)
			return
		}
	}
}

// Close implements broker.Consumer: with peek it returns the held
// deliveries (nack with requeue, multiple up to the last tag), then it
// closes the connection within the target's timeout. The broker requeues
// whatever is left unacked.
func (cs *consumer) Close() error {
	cs.closeOnce.Do(func() {
		cs.mu.Lock()
		cs.closed = true
		s := cs.sess.Swap(nil)
		cs.mu.Unlock()
		if s == nil {
			return
		}
		if s.acks != nil && !s.lost.Load() {
			if err := s.acks.close(s.ch); err != nil && !errors.Is(err, amqp.ErrClosed) {
				cs.closeErr = fmt.Errorf("rabbitmq at %s: acking the last deliveries of queue %q: %w", s.addr, cs.queue, err)
			}
		}
		// From here on, settles of its deliveries are stale.
		wasLost := s.lost.Swap(true)
		if tag := s.lastTag.Load(); cs.peek && tag > 0 && !wasLost {
			if err := s.ch.Nack(tag, true, true); err != nil && !errors.Is(err, amqp.ErrClosed) {
				cs.closeErr = fmt.Errorf("rabbitmq at %s: returning peeked messages to queue %q: %w", s.addr, cs.queue, err)
			}
		}
		err := s.conn.CloseDeadline(time.Now().Add(cs.c.timeout))
		if err != nil && !errors.Is(err, amqp.ErrClosed) && cs.closeErr == nil {
			cs.closeErr = fmt.Errorf("rabbitmq at %s: closing the consumer's connection: %w", s.addr, err)
		}
	})
	return cs.closeErr
}

// Settle implements broker.Settler (see NewConsumer for the verbs). A
// delivery is settled once: a second ack of the same tag would make the
// broker close the channel, and with it every other unacked delivery.
func (x *delivery) Settle(ctx context.Context, st broker.Settlement) error {
	cs := x.cs
	if cs.peek || st.Verb == broker.InProgress {
		return nil
	}
	if st.Verb != broker.Ack && st.Verb != broker.Nack && st.Verb != broker.Term {
		return mqerr.Usagef("rabbitmq: cannot settle with verb %s", st.Verb)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !x.settled.CompareAndSwap(false, true) {
		return fmt.Errorf("rabbitmq: %s of delivery %d from queue %q: it was settled already", st.Verb, x.tag, cs.queue)
	}
	if x.s.lost.Load() {
		return x.stale(st.Verb, nil)
	}
	var err error
	if a := x.s.acks; a != nil {
		ok, err := a.settle(x.s.ch, x.tag, st.Verb)
		if !ok || err != nil {
			return x.stale(st.Verb, err)
		}
		return nil
	}
	switch st.Verb {
	case broker.Ack:
		err = x.s.ch.Ack(x.tag, false)
	case broker.Nack:
		if st.Delay > 0 {
			cs.delayOnce.Do(func() {
				cs.logf("rabbitmq: a nack cannot be delayed (%s asked): AMQP requeues at once", st.Delay)
			})
		}
		err = x.s.ch.Nack(x.tag, false, true)
	case broker.Term:
		err = x.s.ch.Reject(x.tag, false)
	}
	if err != nil {
		// These methods only write a frame: they fail on a closed channel
		// or a broken connection, and either way the broker requeues the
		// delivery.
		return x.stale(st.Verb, err)
	}
	return nil
}

// Stale implements broker.StaleChecker: the channel the delivery came on
// is closed (consumer_timeout, a channel error, the connection lost) or
// the consumer was closed. The broker requeued the delivery with the
// channel, and a settle would fail; it is true before Next learns of the
// loss, as amqp091 marks the channel closed as soon as the close arrives.
func (x *delivery) Stale() bool {
	return x.s.lost.Load() || x.s.ch.IsClosed()
}

// stale is the error of a settle that could not reach the channel the
// delivery came on; cause is why, when there is more to say. When the
// broker closed that channel for its consumer_timeout, a
// *broker.AckTimeout is in the chain too.
func (x *delivery) stale(v broker.Verb, cause error) error {
	stale := broker.ErrStaleDelivery
	if at := x.s.ackTimeout(x.cs.c.timeout); at != nil {
		stale = fmt.Errorf("%w: %w", broker.ErrStaleDelivery, at)
	}
	if cause != nil && !errors.Is(cause, amqp.ErrClosed) {
		return fmt.Errorf("rabbitmq at %s: %s of delivery %d from queue %q: %w (%v)", x.s.addr, v, x.tag, x.cs.queue, stale, cause)
	}
	return fmt.Errorf("rabbitmq at %s: %s of delivery %d from queue %q: %w", x.s.addr, v, x.tag, x.cs.queue, stale)
}
