package nats

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

const (
	// ephemeralIdle is how long the server keeps an ephemeral consumer
	// nobody pulls from: it rides out a short outage, and a killed mqctl
	// leaves no consumer behind for long.
	ephemeralIdle = 10 * time.Second
	// pullExpiry bounds each pull request.
	pullExpiry = 10 * time.Second
	// pullHeartbeat is how often the server says a pull request still
	// waits while it has nothing to deliver. nats.go pulls anew after two
	// missed (see jsConsumer), so it bounds a stall at 2 s; its default,
	// half the expiry, made that 10 s. It costs an idle consumer one
	// heartbeat a second.
	pullHeartbeat = time.Second
)

// jsConsumer reads a JetStream stream through a pull consumer: durable
// (bound or created) or ephemeral (created here, removed at Close).
// nats.go's Consume callback fills the inbox and re-pulls by itself after
// a reconnect; what it reports as an error is checked against the
// server (recover) before anything is given up.
//
// Settling maps the verbs to JetStream's: Ack is +ACK confirmed by the
// server, Nack is -NAK (with a delay when asked), Term is +TERM (the
// server emits a MSG_TERMINATED advisory), InProgress is +WPI.
//
// With AckDeletes the consumer takes no acks, like a peeking one; Ack
// deletes the message from the stream (confirmed by the server, so a
// replayed dead letter leaves its DLQ stream only then), and the other
// verbs leave it where it is.
//
// nats.go's Consume (v1.55, and v1.56 alike) can stop pulling while
// messages wait: it asks for the next batch when fewer than half of the
// messages it asked for are still to come, but skips that check while its
// previous pull request is still being sent, and checks again only when
// something arrives. When the server delivers everything asked for before
// that send returns (a backlog, a loaded machine), nothing is left to
// arrive: the server holds no pull request and nats.go pulls again only
// after two missed idle heartbeats, on the same subscription. Hence the
// short pullHeartbeat. Replacing the subscription instead was tried and
// is not safe: a request of the old one may still be on its way, and 2 of
// 110 bench runs lost a batch (about 51 messages) to the ack wait so.
//
// UntilEnd ends after the stream's last sequence at start, or once a
// delivery says nothing is pending for the consumer, whichever comes
// first: it waits for every message that existed at start and matches the
// filter, never for messages published later. Deliveries a durable
// consumer handed to an earlier run and that are still unacked (its ack
// pending) are not waited for; the server redelivers them after its ack
// wait.
type jsConsumer struct {
	*link
	js      jetstream.JetStream
	stream  string
	durable bool
	// peek is set for a consumer with ack policy none: peeking, or
	// deleting on ack.
	peek     bool
	deletes  bool
	prefetch int
	// track is set for an ephemeral consumer that acks: it keeps what a
	// replacement must deliver again should the server lose it.
	track bool
	// cfg is the ephemeral consumer's config, to create a replacement.
	cfg jetstream.ConsumerConfig

	untilEnd bool
	endSeq   uint64

	in      *inbox[jsItem]
	trouble chan error
	// gen counts the consumers this one has had; it moves on when a lost
	// ephemeral consumer is replaced and at Close, which makes the
	// deliveries of the former one stale.
	gen atomic.Uint32

	// mu guards what follows; Next holds it except while it waits.
	mu    sync.Mutex
	cons  jetstream.Consumer
	cc    jetstream.ConsumeContext
	cur   *jsBatch
	pos   int
	taken taken[jsItem]
	// live are the batches with deliveries not yet acked, termed or
	// nacked; maxTaken is the highest stream sequence taken from the
	// inbox (first deliveries come in stream order).
	live     []*jsBatch
	maxTaken uint64
	eof      bool
	err      error

	// nacked holds the stream sequences nacked and not yet seen again.
	nackMu sync.Mutex
	nacked map[uint64]struct{}
}

// jsItem is a message as the Consume callback queues it, with the
// generation of the consumer it came from.
type jsItem struct {
	msg jetstream.Msg
	gen uint32
}

// jsBatch holds deliveries allocated together (a slab); open counts those
// not yet acked, termed or nacked.
type jsBatch struct {
	d    []jsDelivery
	open atomic.Int32
}

// jsSlab is how many deliveries are allocated together (see taken).
const jsSlab = 32 << 10 / int(unsafe.Sizeof(jsDelivery{}))

var _ broker.StaleChecker = (*jsDelivery)(nil)

// jsDelivery is a delivery and its own settler.
type jsDelivery struct {
	broker.Delivery
	msg   jetstream.Msg
	c     *jsConsumer
	batch *jsBatch
	gen   uint32
	// pending is the consumer's count of undelivered messages after this
	// one.
	pending uint64
	done    atomic.Bool
}

func (c *Conn) newJSConsumer(ctx context.Context, o broker.ConsumerOptions) (broker.Consumer, error) {
	l, err := c.dial(ctx, o.Logf)
	if err != nil {
		return nil, err
	}
	jc, err := l.openJS(ctx, o)
	if err != nil {
		l.shut()
		l.conn.nc.Close()
		return nil, err
	}
	return jc, nil
}

// openJS finds the stream, binds or creates the consumer on l's
// connection and starts pulling.
func (l *link) openJS(ctx context.Context, o broker.ConsumerOptions) (*jsConsumer, error) {
	conn := l.conn
	js, err := jetstream.New(conn.nc)
	if err != nil {
		return nil, fmt.Errorf("nats at %s: jetstream: %w", conn.hosts, err)
	}
	conn.js = js
	name := o.Sources[0]
	s, err := js.Stream(ctx, name)
	if err != nil {
		return nil, conn.streamErr(err, name)
	}
	state := s.CachedInfo().State
	jc := &jsConsumer{
		link:     l,
		js:       js,
		stream:   name,
		durable:  o.Durable != "",
		peek:     o.Peek || o.AckDeletes,
		deletes:  o.AckDeletes,
		prefetch: o.Prefetch,
		untilEnd: o.UntilEnd,
		endSeq:   state.LastSeq,
		in:       newInbox[jsItem](o.Prefetch),
		trouble:  make(chan error, 8),
	}
	if jc.durable {
		jc.cons, err = jc.bind(ctx, s, o)
		if err != nil {
			return nil, err
		}
	} else {
		jc.track = !jc.peek
		jc.nacked = map[uint64]struct{}{}
		jc.cfg = consumerConfig(o, state)
		jc.cons, err = s.CreateConsumer(ctx, jc.cfg)
		if err != nil {
			return nil, conn.apiErr(err, fmt.Sprintf("creating a consumer on stream %q", name))
		}
	}
	if o.UntilEnd && jc.cons.CachedInfo().NumPending == 0 {
		jc.eof = true
		return jc, nil
	}
	if err := jc.consume(); err != nil {
		return nil, err
	}
	return jc, nil
}

// streamErr classifies a failed look-up of stream name.
func (c *Conn) streamErr(err error, name string) error {
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return mqerr.New(mqerr.NotFound, "stream %q not found on nats at %s", name, c.hosts)
	case errors.Is(err, jetstream.ErrInvalidStreamName), errors.Is(err, jetstream.ErrStreamNameRequired):
		return mqerr.Usagef("nats: %q is not a valid stream name", name)
	case jetStreamMissing(err):
		return mqerr.New(mqerr.NotFound, "JetStream is not enabled on nats at %s", c.hosts)
	}
	return c.apiErr(err, fmt.Sprintf("reading stream %q", name))
}

// consumerConfig is the config of a consumer mqctl creates: explicit acks
// bounded by the prefetch (none when peeking or deleting on ack),
// starting where o.From says.
func consumerConfig(o broker.ConsumerOptions, st jetstream.StreamState) jetstream.ConsumerConfig {
	cfg := jetstream.ConsumerConfig{
		Durable:       o.Durable,
		Description:   "mqctl consume",
		FilterSubject: o.FilterSubject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		MaxAckPending: o.Prefetch,
	}
	if o.Peek || o.AckDeletes {
		cfg.AckPolicy, cfg.MaxAckPending = jetstream.AckNonePolicy, 0
	}
	if o.Durable == "" {
		cfg.InactiveThreshold = ephemeralIdle
	}
	switch o.From.Kind {
	case broker.StartEnd:
		cfg.DeliverPolicy = jetstream.DeliverNewPolicy
	case broker.StartOffset:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, uint64(o.From.N)
	case broker.StartLast:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, lastN(st, uint64(o.From.N))
	case broker.StartTime:
		t := o.From.Time
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	default:
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	return cfg
}

// lastN is the first sequence of the stream's last n messages. It counts
// stream sequences, not the messages of a filter subject: JetStream has
// no cheap way to count those backwards.
func lastN(st jetstream.StreamState, n uint64) uint64 {
	start := st.FirstSeq
	if st.LastSeq >= n {
		start = max(start, st.LastSeq-n+1)
	}
	return max(start, 1)
}

// bind binds to durable consumer o.Durable, creating it when it does not
// exist. An existing one keeps its config: a different filter subject or
// no acks at all is a usage error (it would read other messages than
// asked, or could not settle them); a start position is ignored with a
// warning, since a durable resumes from its stored position.
func (jc *jsConsumer) bind(ctx context.Context, s jetstream.Stream, o broker.ConsumerOptions) (jetstream.Consumer, error) {
	cons, err := s.Consumer(ctx, o.Durable)
	created := false
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = s.CreateConsumer(ctx, consumerConfig(o, s.CachedInfo().State))
		created = err == nil
		if errors.Is(err, jetstream.ErrConsumerExists) {
			// Created by someone else in the meantime.
			cons, err = s.Consumer(ctx, o.Durable)
		}
	}
	switch {
	case errors.Is(err, jetstream.ErrNotPullConsumer):
		return nil, mqerr.Usagef("nats: consumer %q of stream %q is a push consumer; mqctl reads through pull consumers", o.Durable, jc.stream)
	case errors.Is(err, jetstream.ErrInvalidConsumerName):
		return nil, mqerr.Usagef("nats: %q is not a valid consumer name", o.Durable)
	case err != nil:
		return nil, jc.conn.apiErr(err, fmt.Sprintf("binding consumer %q of stream %q", o.Durable, jc.stream))
	case created:
		return cons, nil
	}
	cfg := cons.CachedInfo().Config
	if o.FilterSubject != "" && cfg.FilterSubject != o.FilterSubject && !(len(cfg.FilterSubjects) == 1 && cfg.FilterSubjects[0] == o.FilterSubject) {
		return nil, mqerr.Usagef("nats: durable consumer %q of stream %q reads %s, not %q; use another consumer name", o.Durable, jc.stream, filterText(cfg), o.FilterSubject)
	}
	switch cfg.AckPolicy {
	case jetstream.AckNonePolicy:
		return nil, mqerr.Usagef("nats: durable consumer %q of stream %q takes no acks, so its messages cannot be settled; use another consumer", o.Durable, jc.stream)
	case jetstream.AckAllPolicy:
		jc.logf("nats: durable consumer %q acks cumulatively (ack policy all): acking a message acks every earlier one", o.Durable)
	}
	if k := o.From.Kind; k != broker.StartDefault && k != broker.StartStored {
		jc.logf("nats: durable consumer %q of stream %q exists and resumes from its stored position; the start position is ignored", o.Durable, jc.stream)
	}
	return cons, nil
}

func filterText(cfg jetstream.ConsumerConfig) string {
	switch {
	case cfg.FilterSubject != "":
		return fmt.Sprintf("%q", cfg.FilterSubject)
	case len(cfg.FilterSubjects) > 0:
		return fmt.Sprintf("%q", strings.Join(cfg.FilterSubjects, ","))
	}
	return "every subject"
}

// consume (re)starts pulling from the current consumer.
func (jc *jsConsumer) consume() error {
	if jc.cc != nil {
		jc.cc.Stop()
	}
	gen := jc.gen.Load()
	cc, err := jc.cons.Consume(func(m jetstream.Msg) { jc.in.put(jsItem{m, gen}) },
		jetstream.PullMaxMessages(jc.prefetch),
		jetstream.PullExpiry(pullExpiry),
		jetstream.PullHeartbeat(pullHeartbeat),
		jetstream.ConsumeErrHandler(jc.onErr))
	if err != nil {
		return fmt.Errorf("read stream %q on nats at %s: %s", jc.stream, jc.conn.hosts, reason(err))
	}
	jc.cc = cc
	return nil
}

// onErr passes the pull subscription's errors to Next, except those
// nats.go handles by itself or that only inform.
func (jc *jsConsumer) onErr(_ jetstream.ConsumeContext, err error) {
	switch {
	case errors.Is(err, jetstream.ErrServerShutdown),
		errors.Is(err, jetstream.ErrConsumerLeadershipChanged),
		errors.Is(err, jetstream.ErrPinIDMismatch),
		errors.Is(err, jetstream.ErrNoMessages),
		errors.Is(err, jetstream.ErrMaxBytesExceeded),
		errors.Is(err, jetstream.ErrBatchCompleted),
		errors.Is(err, nats.ErrTimeout):
		return
	}
	select {
	case jc.trouble <- err:
	default:
	}
}

// Next implements broker.Consumer.
func (jc *jsConsumer) Next(ctx context.Context) (*broker.Delivery, error) {
	jc.mu.Lock()
	defer jc.mu.Unlock()
	for {
		switch {
		case jc.err != nil:
			return nil, jc.err
		case jc.eof:
			return nil, io.EOF
		}
		if jc.cur != nil && jc.pos < len(jc.cur.d) {
			d := &jc.cur.d[jc.pos]
			seq := d.NATS.StreamSeq
			if jc.untilEnd && seq > jc.endSeq {
				jc.reachEnd()
				continue
			}
			jc.pos++
			if jc.untilEnd && (seq == jc.endSeq || d.pending == 0) {
				jc.reachEnd()
			}
			return &d.Delivery, nil
		}
		if len(jc.taken.rest) > 0 {
			jc.fill(jc.taken.next(jsSlab))
			continue
		}
		jc.mu.Unlock()
		items, cause, err := wait(ctx, jc.link, jc.in, jc.taken.all, jc.trouble)
		jc.mu.Lock()
		if cause != nil {
			err = jc.recover(ctx, cause)
		}
		if err != nil {
			// Only the caller's context ending is not final.
			if ctx.Err() == nil {
				jc.err = err
			}
			return nil, err
		}
		if items != nil {
			jc.taken.set(items)
		}
	}
}

// reachEnd makes Next return io.EOF from now on and stops pulling. The
// subscription is drained: what it still receives goes to the inbox, for
// Close to give back.
func (jc *jsConsumer) reachEnd() {
	jc.eof = true
	if jc.cc != nil {
		jc.cc.Drain()
	}
}

// fill turns messages into deliveries, allocated together. Messages of a
// replaced consumer are dropped: its replacement delivers them again.
func (jc *jsConsumer) fill(items []jsItem) {
	gen := jc.gen.Load()
	b := &jsBatch{d: make([]jsDelivery, len(items))}
	n := 0
	for _, it := range items {
		if it.gen == gen {
			jc.deliver(&b.d[n], b, it.msg, gen)
			n++
		}
	}
	b.d = b.d[:n]
	jc.cur, jc.pos = b, 0
	if jc.track && n > 0 {
		b.open.Store(int32(n))
		jc.prune()
		jc.live = append(jc.live, b)
	}
}

func (jc *jsConsumer) deliver(d *jsDelivery, b *jsBatch, m jetstream.Msg, gen uint32) {
	d.msg, d.c, d.batch, d.gen = m, jc, b, gen
	d.Settler = d
	if jc.peek && !jc.deletes {
		d.Settler = noSettle{}
	}
	h := m.Headers()
	d.Value = m.Data()
	d.Headers = headerList(h)
	d.Destination = m.Subject()
	d.NATS.Subject = m.Subject()
	d.NATS.MsgID = h.Get(jetstream.MsgIDHeader)
	ackMeta(m, d)
	jc.maxTaken = max(jc.maxTaken, d.NATS.StreamSeq)
	if jc.track && d.NATS.NumDelivered > 1 {
		jc.nackMu.Lock()
		delete(jc.nacked, d.NATS.StreamSeq)
		jc.nackMu.Unlock()
	}
}

// ackMeta fills d's JetStream metadata from the delivery (jetstream.Msg
// parses its reply subject, both the pre-2.9 and the domain form). A
// delivery without that metadata leaves it zero and returns false.
func ackMeta(m jetstream.Msg, d *jsDelivery) bool {
	md, err := m.Metadata()
	if err != nil {
		return false
	}
	d.NATS.Stream, d.NATS.Consumer = md.Stream, md.Consumer
	d.NATS.NumDelivered, d.NATS.StreamSeq, d.NATS.ConsumerSeq = md.NumDelivered, md.Sequence.Stream, md.Sequence.Consumer
	d.Timestamp = md.Timestamp
	d.pending = md.NumPending
	return true
}

// prune forgets the batches whose deliveries are all settled.
func (jc *jsConsumer) prune() {
	keep := jc.live[:0]
	for _, b := range jc.live {
		if b.open.Load() > 0 {
			keep = append(keep, b)
		}
	}
	clear(jc.live[len(keep):])
	jc.live = keep
}

// recover finds out what an error of the pull subscription means, and
// repairs what it can. The consumer is asked for its info, with backoff
// while JetStream does not answer (a server restarting): when it answers,
// pulling goes on (restarted when the error left it stuck); a lost
// ephemeral consumer is replaced; a deleted stream or durable consumer,
// or a permission denied, is final.
func (jc *jsConsumer) recover(ctx context.Context, cause error) error {
	restart := errors.Is(cause, nats.ErrNoResponders) ||
		errors.Is(cause, jetstream.ErrConsumerDeleted) ||
		errors.Is(cause, jetstream.ErrBadRequest) ||
		errors.Is(cause, jetstream.ErrConnectionClosed)
	for attempt := 1; ; attempt++ {
		err := jc.check(ctx)
		switch {
		case err == nil && restart:
			return jc.consume()
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, jetstream.ErrStreamNotFound):
			return mqerr.New(mqerr.NotFound, "stream %q on nats at %s was deleted", jc.stream, jc.conn.hosts)
		case errors.Is(err, jetstream.ErrConsumerNotFound) && jc.durable:
			return mqerr.New(mqerr.NotFound, "durable consumer %q of stream %q on nats at %s was deleted", jc.cons.CachedInfo().Name, jc.stream, jc.conn.hosts)
		case errors.Is(err, jetstream.ErrConsumerNotFound):
			if err = jc.recreate(ctx); err == nil {
				return nil
			}
		}
		if e := jc.conn.apiErr(err, "reading the consumer"); mqerr.KindOf(e) == mqerr.Auth {
			return e
		}
		// While disconnected the connection's own message says it all.
		if attempt == 1 && jc.conn.nc.IsConnected() {
			jc.logf("nats: JetStream at %s does not serve the consumer of stream %q (%s); retrying", jc.conn.hosts, jc.stream, reason(err))
		}
		if err := jc.sleep(ctx, backoff(attempt)); err != nil {
			return err
		}
	}
}

// check asks the server for the consumer, and for the stream when the
// consumer is gone.
func (jc *jsConsumer) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	_, err := jc.cons.Info(ctx)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		if _, serr := jc.js.Stream(ctx, jc.stream); errors.Is(serr, jetstream.ErrStreamNotFound) {
			return serr
		}
	}
	return err
}

// recreate replaces a lost ephemeral consumer. Once anything was
// delivered, the replacement starts at the oldest message not acked or
// termed, so nothing is lost; duplicates are bounded by the prefetch.
func (jc *jsConsumer) recreate(ctx context.Context) error {
	cfg := jc.cfg
	from := uint64(0)
	if jc.maxTaken > 0 {
		from = jc.floor()
		cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = jetstream.DeliverByStartSequencePolicy, from, nil
	}
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	cons, err := jc.js.CreateConsumer(cctx, jc.stream, cfg)
	if err != nil {
		return err
	}
	if jc.cc != nil {
		jc.cc.Stop()
	}
	jc.gen.Add(1)
	jc.cons, jc.cc = cons, nil
	jc.cur, jc.pos, jc.live, jc.taken.rest = nil, 0, nil, nil
	jc.nackMu.Lock()
	clear(jc.nacked)
	jc.nackMu.Unlock()
	jc.in.drop()
	if from > 0 {
		jc.logf("nats: the ephemeral consumer of stream %q was lost; replaced it from stream sequence %d (deliveries not yet acked come again)", jc.stream, from)
	} else {
		jc.logf("nats: the ephemeral consumer of stream %q was lost; replaced it", jc.stream)
	}
	return jc.consume()
}

// floor is where a replacement consumer starts: the oldest message taken
// and not acked, termed or nacked, or nacked and not seen again, else the
// one after the newest taken. Peeking, it is the oldest not yet returned.
func (jc *jsConsumer) floor() uint64 {
	f := jc.maxTaken + 1
	if jc.peek {
		if jc.cur != nil && jc.pos < len(jc.cur.d) {
			f = jc.cur.d[jc.pos].NATS.StreamSeq
		}
		return f
	}
	for _, b := range jc.live {
		for i := range b.d {
			if !b.d[i].done.Load() {
				f = min(f, b.d[i].NATS.StreamSeq)
			}
		}
	}
	jc.nackMu.Lock()
	for seq := range jc.nacked {
		f = min(f, seq)
	}
	jc.nackMu.Unlock()
	return f
}

// Buffered implements broker.Consumer.
func (jc *jsConsumer) Buffered() int {
	jc.mu.Lock()
	defer jc.mu.Unlock()
	if jc.err != nil || jc.eof {
		return 0
	}
	n := len(jc.taken.rest) + jc.in.len()
	if jc.cur != nil {
		n += len(jc.cur.d) - jc.pos
	}
	return n
}

// Stale implements broker.StaleChecker: the delivery came from an
// ephemeral consumer that was lost and replaced (or the consumer was
// closed). The replacement starts at the oldest message not acked, so it
// delivers this one again; a settle here would fail. A message whose ack
// wait passed is not stale: the server may redeliver it, but its ack
// still counts.
func (d *jsDelivery) Stale() bool {
	return !d.c.deletes && d.gen != d.c.gen.Load()
}

// Settle implements broker.Settler.
func (d *jsDelivery) Settle(ctx context.Context, s broker.Settlement) error {
	jc := d.c
	if jc.deletes {
		return d.settleDelete(ctx, s)
	}
	if d.gen != jc.gen.Load() {
		return d.settleErr(s.Verb, broker.ErrStaleDelivery)
	}
	var err error
	switch s.Verb {
	case broker.Ack:
		// Sent without waiting for the server's reply: waiting capped a
		// consumer at one round trip per message (about 20k msg/s here,
		// against 130k). A lost ack means a redelivery, never a loss, and
		// Close flushes the connection so every ack sent reached the server.
		err = d.msg.Ack()
	case broker.Nack:
		if jc.track {
			// Noted first: the redelivery may come before Nak returns.
			jc.nackMu.Lock()
			jc.nacked[d.NATS.StreamSeq] = struct{}{}
			jc.nackMu.Unlock()
		}
		if s.Delay > 0 {
			err = d.msg.NakWithDelay(s.Delay)
		} else {
			err = d.msg.Nak()
		}
	case broker.Term:
		err = d.msg.Term()
	case broker.InProgress:
		return d.settleErr(s.Verb, d.msg.InProgress())
	default:
		return mqerr.Usagef("nats: unknown settle verb %d", s.Verb)
	}
	if err != nil {
		return d.settleErr(s.Verb, err)
	}
	if jc.track && d.done.CompareAndSwap(false, true) {
		d.batch.open.Add(-1)
	}
	return nil
}

// settleDelete settles a delivery of an AckDeletes consumer: Ack deletes
// the message by its stream sequence, which no consumer generation
// affects; the other verbs do nothing, so the message stays.
func (d *jsDelivery) settleDelete(ctx context.Context, s broker.Settlement) error {
	switch s.Verb {
	case broker.Ack:
		return d.settleErr(s.Verb, d.c.conn.deleteMsg(ctx, d.c.stream, d.NATS.StreamSeq))
	case broker.Nack, broker.Term, broker.InProgress:
		return nil
	}
	return mqerr.Usagef("nats: unknown settle verb %d", s.Verb)
}

// settleErr explains a settle that failed; a delivery whose consumer or
// connection is gone is stale.
func (d *jsDelivery) settleErr(v broker.Verb, err error) error {
	if err == nil {
		return nil
	}
	what := fmt.Sprintf("%s of stream %q sequence %d", v, d.c.stream, d.NATS.StreamSeq)
	switch {
	case errors.Is(err, broker.ErrStaleDelivery), errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("%s: %w", what, broker.ErrStaleDelivery)
	case errors.Is(err, jetstream.ErrMsgAlreadyAckd):
		return fmt.Errorf("%s: the delivery was settled already: %w", what, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return fmt.Errorf("%s: no confirmation from nats at %s in time, the message may come again: %w", what, d.c.conn.hosts, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// StopFetching implements broker.FetchStopper: pulling stops and, on a
// durable consumer, what was pulled and not returned by Next is nacked,
// so that another instance gets it at once rather than after the ack
// wait. Deliveries already returned can still be settled until Close.
func (jc *jsConsumer) StopFetching(ctx context.Context) {
	jc.mu.Lock()
	defer jc.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	jc.release(ctx, jc.gen.Load())
	if jc.nc().IsConnected() {
		jc.nc().FlushWithContext(ctx)
	}
	jc.eof = true
}

func (jc *jsConsumer) nc() *nats.Conn { return jc.conn.nc }

// release stops the pull subscription and gives back (nacks) what a
// durable consumer of generation gen pulled and Next did not return. The
// subscription is drained, not just stopped: its unsubscribe goes out
// first, and what the server sent before it saw the unsubscribe still
// arrives (into the inbox, or aside once the inbox is closed) instead of
// being dropped into the void, where it would wait for the ack wait. The
// naks follow the unsubscribe, so the server cannot redeliver a nacked
// message to this consumer's last pull request. Called with mu held; a
// second call has nothing left to give back.
func (jc *jsConsumer) release(ctx context.Context, gen uint32) {
	queued := jc.in.close()
	if jc.cc != nil {
		if jc.nc().IsConnected() {
			jc.cc.Drain()
		} else {
			jc.cc.Stop()
		}
		select {
		case <-jc.cc.Closed():
		case <-ctx.Done():
		}
	}
	held := slices.Concat(jc.taken.rest, queued, jc.in.takeLate())
	var cur []jsDelivery
	if jc.cur != nil {
		cur = jc.cur.d[jc.pos:]
	}
	jc.cur, jc.pos, jc.taken.rest = nil, 0, nil
	if !jc.durable || jc.peek {
		return
	}
	// Best effort: a nak that fails leaves the message to the ack wait.
	for i := range cur {
		cur[i].msg.Nak()
	}
	for _, it := range held {
		if it.gen == gen {
			it.msg.Nak()
		}
	}
}

// Close implements broker.Consumer. An ephemeral consumer is removed. A
// durable one keeps its state; the messages it pulled that Next never
// returned are nacked (see release) so that they come again at once
// rather than after its ack wait. Deliveries returned and not settled
// come again after the ack wait. Close takes at most opTimeout.
func (jc *jsConsumer) Close() error {
	if !jc.shut() {
		return nil
	}
	jc.mu.Lock()
	defer jc.mu.Unlock()
	gen := jc.gen.Add(1) - 1
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	jc.release(ctx, gen)
	nc := jc.nc()
	if nc.IsConnected() {
		// The acks Settle sent without waiting, and the naks, are
		// processed before the server answers this round trip.
		if err := nc.FlushWithContext(ctx); err != nil {
			jc.logf("nats: flushing acks at close: %v; unconfirmed acks may make messages come again", reason(err))
		}
	}
	if !jc.durable {
		name := jc.cons.CachedInfo().Name
		err := nats.ErrDisconnected
		if nc.IsConnected() {
			err = jc.js.DeleteConsumer(ctx, jc.stream, name)
		}
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			jc.logf("nats: could not remove ephemeral consumer %s of stream %q (%s); the server removes it after %s idle", name, jc.stream, reason(err), ephemeralIdle)
		}
	}
	nc.Close()
	if jc.err == nil {
		jc.err = errClosedConsumer
	}
	return nil
}
