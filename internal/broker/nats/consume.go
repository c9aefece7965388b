package nats

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

var _ broker.Subscriber = (*Conn)(nil)

// Consumer defaults and bounds.
const (
	// defaultPrefetch bounds deliveries handed out but not yet settled
	// (JetStream MaxAckPending) and the messages buffered for Next.
	defaultPrefetch = 100
	// opTimeout bounds each JetStream API call a consumer makes, and Close.
	// Conn does not keep the target's timeout, so this is JetStream's own
	// default request timeout.
	opTimeout = 5 * time.Second
)

// NewConsumer implements broker.Subscriber. By default it reads one
// JetStream stream through a pull consumer; with o.Core it subscribes to a
// core NATS subject. Either way the consumer has a connection of its own,
// a copy of c's that reconnects forever with backoff (c's gives up after a
// few minutes, which suits one-shot commands but not a consumer), logs its
// disconnects through o.Logf, and is closed by Close.
//
// o.Logf is called from nats.go's goroutines as well as Next's.
func (c *Conn) NewConsumer(ctx context.Context, o broker.ConsumerOptions) (broker.Consumer, error) {
	if err := checkConsumerOptions(o); err != nil {
		return nil, err
	}
	if o.Prefetch == 0 {
		o.Prefetch = defaultPrefetch
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Core {
		return c.newCoreConsumer(ctx, o)
	}
	return c.newJSConsumer(ctx, o)
}

// checkConsumerOptions rejects what cannot work before anything is
// opened.
func checkConsumerOptions(o broker.ConsumerOptions) error {
	what := "stream"
	if o.Core {
		what = "subject"
	}
	switch {
	case len(o.Sources) != 1:
		return mqerr.Usagef("nats: consume reads exactly one %s, got %d", what, len(o.Sources))
	case o.Group != "":
		return mqerr.Usagef("nats: consumer groups are Kafka's; use a durable consumer (--consumer) on JetStream or a queue group (--queue-group) with --core")
	case len(o.Partitions) > 0:
		return mqerr.Usagef("nats: partitions are Kafka's; NATS has none")
	case o.Prefetch < 0:
		return mqerr.Usagef("nats: prefetch must be positive, got %d", o.Prefetch)
	case o.MultiAck != 0:
		return mqerr.Usagef("nats: multi-ack is RabbitMQ's (basic.ack with multiple); JetStream acks each message")
	}
	if o.Core {
		switch {
		case o.Durable != "":
			return mqerr.Usagef("nats: --consumer: core NATS has no durable consumers; drop --core to read a JetStream stream")
		case o.FilterSubject != "":
			return mqerr.Usagef("nats: --filter-subject narrows a JetStream stream; with --core the source itself is the subject")
		case o.UntilEnd:
			return mqerr.Usagef("nats: --until-end: core NATS has no end to read until, it delivers only what is published while subscribed")
		case o.From.Kind != broker.StartDefault:
			return mqerr.Usagef("nats: --from does not apply to core NATS, which has no history: it delivers only what is published while subscribed")
		case o.AckDeletes:
			return mqerr.Usagef("nats: deleting acked messages needs a JetStream stream; core NATS stores none")
		case strings.ContainsAny(o.QueueGroup, " \t\r\n"):
			return mqerr.Usagef("nats: queue group %q contains whitespace", o.QueueGroup)
		}
		return checkFilter(o.Sources[0])
	}
	switch {
	case o.QueueGroup != "":
		return mqerr.Usagef("nats: --queue-group needs --core; JetStream consumers share work through a durable consumer (--consumer)")
	case o.Peek && o.Durable != "":
		return mqerr.Usagef("--ack none cannot use durable consumer %s; it would leave its messages unacked", o.Durable)
	case o.AckDeletes && o.Peek:
		return mqerr.Usagef("nats: peeking and deleting acked messages exclude each other")
	case o.AckDeletes && o.Durable != "":
		return mqerr.Usagef("nats: deleting acked messages reads through an ephemeral consumer, not durable consumer %s", o.Durable)
	case o.From.Kind == broker.StartStored && o.Durable == "":
		return mqerr.Usagef("nats: --from stored needs a durable consumer (--consumer); an ephemeral consumer has no stored position")
	case o.From.Kind == broker.StartOffset && o.From.N < 1:
		return mqerr.Usagef("nats: --from %d: JetStream stream sequences start at 1", o.From.N)
	case o.From.Kind == broker.StartLast && o.From.N < 1:
		return mqerr.Usagef("nats: --from -%d: give a positive number of last messages", o.From.N)
	case o.From.Kind == broker.StartTime && o.From.Time.IsZero():
		return mqerr.Usagef("nats: --from needs a time to start at")
	}
	if o.FilterSubject != "" {
		return checkFilter(o.FilterSubject)
	}
	return nil
}

// checkFilter accepts a subject to subscribe to: wildcards are allowed as
// whole tokens, '>' only as the last one.
func checkFilter(s string) error {
	if s == "" {
		return mqerr.Usagef("nats: a subject to read is required")
	}
	return checkTokens(s, false)
}

// link is a consumer's own connection and the signals both consumer kinds
// share: closing (Close was called) and fatal (the connection failed for
// good: credentials refused on reconnect, permission denied).
type link struct {
	conn    *Conn
	logf    func(string, ...any)
	closing chan struct{}
	// closed silences the connection's callbacks once Close began.
	closed atomic.Bool

	fatalOnce sync.Once
	fatal     chan struct{}
	fatalErr  error
}

// dial opens the consumer's connection: c's options, reconnecting forever
// with backoff, reporting what happens to it through logf.
func (c *Conn) dial(ctx context.Context, logf func(string, ...any)) (*link, error) {
	l := &link{logf: logf, closing: make(chan struct{}), fatal: make(chan struct{})}
	// nats.go writes Opts only in its setters, which nothing calls.
	opts := c.nc.Opts
	opts.MaxReconnect = -1
	opts.CustomReconnectDelayCB = backoff
	opts.DisconnectedErrCB = func(_ *nats.Conn, err error) {
		if err != nil && !l.closed.Load() {
			logf("nats connection to %s lost: %s; reconnecting", c.hosts, reason(err))
		}
	}
	opts.ReconnectedCB = func(*nats.Conn) {
		if !l.closed.Load() {
			logf("nats connection to %s restored", c.hosts)
		}
	}
	opts.AsyncErrorCB = func(_ *nats.Conn, _ *nats.Subscription, err error) { l.asyncErr(c.hosts, err) }
	opts.ClosedCB = func(nc *nats.Conn) {
		if !l.closed.Load() {
			l.fail(closedErr(nc.LastError(), c.hosts))
		}
	}
	budget := opts.Timeout
	if dl, ok := ctx.Deadline(); ok {
		budget = time.Until(dl)
	}
	nc, err := connect(ctx, "", []nats.Option{func(o *nats.Options) error { *o = opts; return nil }})
	if err != nil {
		return nil, classify(err, c.hosts, budget)
	}
	l.conn = &Conn{nc: nc, hosts: c.hosts}
	return l, nil
}

// asyncErr acts on what the server reports outside any request.
func (l *link) asyncErr(hosts string, err error) {
	if l.closed.Load() {
		return
	}
	switch {
	case errors.Is(err, nats.ErrSlowConsumer):
		l.logf("nats: mqctl fell behind and the client dropped messages (slow consumer)")
	case errors.Is(err, nats.ErrPermissionViolation):
		l.fail(mqerr.Wrap(mqerr.Auth, &explained{fmt.Sprintf("nats at %s denied this user: %s", hosts, reason(err)), err}))
	}
}

// closedErr explains a connection that closed although it reconnects
// forever: nats.go gives up only when the server refuses the credentials.
func closedErr(last error, hosts string) error {
	if last != nil && isAuthError(last) {
		return mqerr.New(mqerr.Auth, "nats at %s refused the credentials on reconnect: %s", hosts, strings.ToLower(reason(last)))
	}
	why := "closed"
	if last != nil {
		why = reason(last)
	}
	return mqerr.New(mqerr.Failure, "nats connection to %s closed: %s", hosts, why)
}

// fail records the first final error and wakes Next.
func (l *link) fail(err error) {
	l.fatalOnce.Do(func() {
		l.fatalErr = err
		close(l.fatal)
	})
}

// shut marks the consumer closing; it reports whether this call did.
func (l *link) shut() bool {
	if !l.closed.CompareAndSwap(false, true) {
		return false
	}
	close(l.closing)
	return true
}

// errClosedConsumer is what Next returns after Close.
var errClosedConsumer = errors.New("nats: consumer closed")

// wait returns the next batch from in, waiting until there is one. A nil
// batch and a nil error mean trouble arrived first (from the pull
// subscription); it is returned for the caller to act on.
func wait[T any](ctx context.Context, l *link, in *inbox[T], spare []T, trouble <-chan error) (items []T, cause error, err error) {
	for {
		if items := in.take(spare); len(items) > 0 {
			return items, nil, nil
		}
		select {
		case <-in.ready:
		case cause := <-trouble:
			return nil, cause, nil
		case <-l.fatal:
			return nil, nil, l.fatalErr
		case <-l.closing:
			return nil, nil, errClosedConsumer
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

// sleep waits d, or less when ctx ends or the consumer closes or fails.
func (l *link) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-l.fatal:
		return l.fatalErr
	case <-l.closing:
		return errClosedConsumer
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backoff is the wait before retry or reconnect attempt n (from 1, as
// nats.go counts reconnects).
func backoff(attempt int) time.Duration { return broker.Backoff(attempt - 1) }

// taken is what Next took from an inbox, turned into deliveries a slab at
// a time: a slab of more than 32 KiB would be a large object, which costs
// the garbage collector more than several small ones.
type taken[T any] struct {
	all, rest []T
}

func (t *taken[T]) set(items []T) { t.all, t.rest = items, items }

// next returns the next at most n items.
func (t *taken[T]) next(n int) []T {
	n = min(n, len(t.rest))
	items := t.rest[:n]
	t.rest = t.rest[n:]
	return items
}

// inbox hands messages from a nats.go callback goroutine to Next. The
// callback appends under a lock; Next takes everything queued at once, so
// the lock and the wake-up cost once per batch when Next falls behind and
// once per message at worst. A full inbox blocks the callback, which
// stops a pull subscription asking for more, or leaves messages in
// nats.go's own buffer for a core subscription. What comes after close is
// kept aside (late), for a JetStream consumer to give back.
type inbox[T any] struct {
	mu     sync.Mutex
	items  []T
	late   []T
	limit  int
	closed bool
	// ready wakes Next when items became non-empty; room wakes a callback
	// waiting for space. done is closed by close.
	ready chan struct{}
	room  chan struct{}
	done  chan struct{}
}

func newInbox[T any](limit int) *inbox[T] {
	return &inbox[T]{
		items: make([]T, 0, limit),
		limit: limit,
		ready: make(chan struct{}, 1),
		room:  make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
}

// put queues v, waiting while the inbox is full; after close it keeps v
// aside (see takeLate).
func (b *inbox[T]) put(v T) {
	b.mu.Lock()
	for len(b.items) >= b.limit && !b.closed {
		b.mu.Unlock()
		select {
		case <-b.room:
		case <-b.done:
		}
		b.mu.Lock()
	}
	if b.closed {
		b.late = append(b.late, v)
		b.mu.Unlock()
		return
	}
	b.items = append(b.items, v)
	wake := len(b.items) == 1
	b.mu.Unlock()
	if wake {
		signal(b.ready)
	}
}

// take returns everything queued, or nil, and queues into spare (a batch
// the caller is done with) from now on.
func (b *inbox[T]) take(spare []T) []T {
	b.mu.Lock()
	items := b.items
	if len(items) == 0 {
		b.mu.Unlock()
		return nil
	}
	clear(spare)
	b.items = spare[:0]
	b.mu.Unlock()
	signal(b.room)
	return items
}

// len is how many messages are queued.
func (b *inbox[T]) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.items)
}

// drop empties the inbox.
func (b *inbox[T]) drop() {
	b.mu.Lock()
	clear(b.items)
	b.items = b.items[:0]
	b.mu.Unlock()
	signal(b.room)
}

// close makes put keep what comes from now on aside (takeLate returns
// it, to give back), releases a waiting callback, and returns what was
// still queued.
func (b *inbox[T]) close() []T {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	close(b.done)
	items := b.items
	b.items = nil
	return items
}

// takeLate returns what was put after close, and forgets it.
func (b *inbox[T]) takeLate() []T {
	b.mu.Lock()
	defer b.mu.Unlock()
	late := b.late
	b.late = nil
	return late
}

// signal wakes whoever waits on ch, without blocking when a wake-up is
// already pending.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// headerList turns h into mqctl's ordered headers. nats.Header is a map
// and forgets the order across names, so names are sorted (a stable,
// documented order); the values of one name keep their wire order. One
// allocation holds the bytes of all values.
func headerList(h nats.Header) []broker.Header {
	if len(h) == 0 {
		return nil
	}
	count, size := 0, 0
	for _, vs := range h {
		count += len(vs)
		for _, v := range vs {
			size += len(v)
		}
	}
	out := make([]broker.Header, 0, count)
	buf := make([]byte, 0, size)
	for k, vs := range h {
		for _, v := range vs {
			start := len(buf)
			buf = append(buf, v...)
			out = append(out, broker.Header{Key: k, Value: buf[start:len(buf):len(buf)]})
		}
	}
	slices.SortStableFunc(out, func(a, b broker.Header) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// noSettle is the settler of deliveries that have nothing to settle: core
// NATS, and JetStream peeking with ack policy none.
type noSettle struct{}

func (noSettle) Settle(context.Context, broker.Settlement) error { return nil }
