package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

var (
	_ broker.StaleChecker = (*delivery)(nil)
	_ broker.FetchPauser  = (*reader)(nil)
	_ broker.SettleNoter  = (*reader)(nil)
)

// delivery is one record handed out; it settles itself.
type delivery struct {
	broker.Delivery
	part *partition
	seq  uint64
	// offset is the record's offset in part: Message.Kafka holds the
	// original one for a record read back from a retry topic.
	offset int64
	slab   *slab
	// done is set by the delivery's first settle.
	done atomic.Bool
}

// slab holds the deliveries of one poll. Allocating them a poll at a time
// would still cost more than kgo's own work per record: a delivery is
// over 400 bytes, and the garbage collector's work grows with what is
// allocated. So a slab is reused once every delivery in it was settled (or
// passed over), and a consumer whose caller settles allocates nothing per
// record.
type slab struct {
	ds      []delivery
	headers []broker.Header
	// live counts the deliveries neither settled nor passed over.
	live atomic.Int64
}

// maxFree bounds the slabs kept for reuse: one being filled and one whose
// deliveries are still being settled is the steady state.
const maxFree = 2

// Next returns the next record, polling when the last poll's are used up.
func (k *reader) Next(ctx context.Context) (*broker.Delivery, error) {
	for {
		if k.Buffered() > 0 {
			d := &k.cur.ds[k.i]
			k.i++
			return &d.Delivery, nil
		}
		if k.caughtUp() && len(k.held) == 0 {
			done, err := k.othersCaughtUp(ctx)
			if done {
				return nil, io.EOF
			}
			if err != nil && ctx.Err() == nil {
				k.warn.warnf("kafka: reading the group's commits for --until-end: %v", err)
			}
			// Wait for a rebalance to bring the rest here, or for the
			// members holding it to commit it.
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		if err := k.poll(ctx); err != nil {
			return nil, err
		}
	}
}

// pollContext is the context Next polls with: with UntilEnd one that
// wakeUp ends, since the last partitions may be found read to their end
// (by the group's callbacks) while no record is coming.
func (k *reader) pollContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if !k.untilEnd {
		return ctx, func() {}
	}
	pollCtx, cancel := context.WithCancel(ctx)
	k.wakeMu.Lock()
	k.wake = cancel
	k.wakeMu.Unlock()
	// Caught up before wake was set: nothing would end the poll.
	if k.caughtUp() {
		cancel()
	}
	return pollCtx, func() {
		k.wakeMu.Lock()
		k.wake = nil
		k.wakeMu.Unlock()
		cancel()
	}
}

// Buffered is how many records Next returns without polling. Records of a
// partition this consumer no longer holds are passed over: another member
// reads them now.
func (k *reader) Buffered() int {
	if k.cur == nil {
		return 0
	}
	for k.i < len(k.cur.ds) && k.cur.ds[k.i].part.gone.Load() {
		k.cur.ds[k.i].release()
		k.i++
	}
	return len(k.cur.ds) - k.i
}

// release counts d settled or passed over, once, and hands its slab back
// for reuse when it was the last.
func (d *delivery) release() {
	if d.done.CompareAndSwap(false, true) && d.slab.live.Add(-1) == 0 {
		k := d.part.k
		k.freeMu.Lock()
		if len(k.free) < maxFree {
			k.free = append(k.free, d.slab)
		}
		k.freeMu.Unlock()
	}
}

// slab returns a slab for n deliveries with h headers in all: a free one
// when there is one.
func (k *reader) slab(n, h int) *slab {
	k.freeMu.Lock()
	var s *slab
	if last := len(k.free) - 1; last >= 0 {
		s = k.free[last]
		k.free = k.free[:last]
	}
	k.freeMu.Unlock()
	if s == nil {
		s = &slab{}
	}
	if cap(s.ds) < n {
		s.ds = make([]delivery, 0, max(n, k.pollMax))
	}
	if cap(s.headers) < h {
		s.headers = make([]broker.Header, h)
	}
	s.ds, s.headers = s.ds[:0], s.headers[:cap(s.headers)]
	return s
}

// poll fetches the next records into a new batch. Errors it returns are
// final; a broker that cannot be reached is only warned about, as kgo
// reconnects by itself. Records of a retry topic that are not due yet are
// held (their partition paused) and handed out by a later poll, which
// waits no longer than until the first of them is due.
func (k *reader) poll(ctx context.Context) error {
	k.pend = k.pend[:0]
	wait := k.releaseDue(time.Now())
	if len(k.pend) == 0 && !wait.IsZero() && k.caughtUp() {
		// Nothing more to fetch (UntilEnd): only held records remain.
		t := time.NewTimer(time.Until(wait))
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		}
	}
	var fs kgo.Fetches
	if len(k.pend) == 0 {
		pollCtx, done := k.pollContext(ctx)
		if !wait.IsZero() {
			var cancel context.CancelFunc
			pollCtx, cancel = context.WithDeadline(pollCtx, wait)
			defer cancel()
		}
		fs = k.cl.PollRecords(pollCtx, k.pollMax)
		done()
		if err := k.fetchErr(ctx, fs); err != nil && (fs.NumRecords() == 0 || !isCtxErr(err)) {
			return err
		}
	}
	now := time.Now()
	fs.EachPartition(func(f kgo.FetchTopicPartition) {
		if len(f.Records) == 0 {
			return
		}
		k.mu.Lock()
		p := k.parts[topicPartition{f.Topic, f.Partition}]
		k.mu.Unlock()
		if p == nil {
			return // revoked since it was fetched
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.gone.Load() {
			return
		}
		for _, r := range f.Records {
			if r.Offset >= p.end {
				// Past what existed at the start (UntilEnd).
				k.finish(p)
				break
			}
			if r.Attrs.IsControl() {
				// A transaction marker takes an offset but is no
				// message: handled at once, so commits and UntilEnd can
				// pass it (a topic written in transactions ends in one).
				if k.commits {
					if seq, ok := p.t.add(r.Offset, r.LeaderEpoch); ok {
						p.t.handle(seq)
					}
				}
				if r.Offset+1 >= p.end {
					k.finish(p)
				}
				continue
			}
			var seq uint64
			if k.commits {
				var ok bool
				if seq, ok = p.t.add(r.Offset, r.LeaderEpoch); !ok {
					continue // fetched before a rebalance
				}
			}
			if r.Offset+1 >= p.end {
				k.finish(p)
			}
			h := heldRecord{p, r, seq}
			if p.retry && (len(k.held[p]) > 0 || due(r).After(now)) {
				k.hold(h)
				continue
			}
			k.pend = append(k.pend, h)
		}
	})
	if len(k.pend) == 0 {
		return nil
	}
	headers := 0
	for _, h := range k.pend {
		headers += len(h.r.Headers)
	}
	s := k.slab(len(k.pend), headers)
	hs := s.headers
	for _, h := range k.pend {
		r := h.r
		// Extend rather than append a literal: copying a whole
		// delivery into the slab costs more than the fields.
		s.ds = s.ds[:len(s.ds)+1]
		d := &s.ds[len(s.ds)-1]
		d.part, d.seq, d.offset, d.slab = h.p, h.seq, r.Offset, s
		d.done.Store(false)
		d.Settler = d
		m := &d.Message
		m.Key, m.Value = r.Key, r.Value
		m.Timestamp = r.Timestamp
		m.Destination = r.Topic
		m.Kafka = broker.KafkaMeta{Partition: r.Partition, Offset: r.Offset}
		m.Headers = nil
		if len(r.Headers) > 0 {
			m.Headers, hs = hs[:len(r.Headers):len(r.Headers)], hs[len(r.Headers):]
			for j, h := range r.Headers {
				m.Headers[j] = broker.Header{Key: h.Key, Value: h.Value}
			}
		}
		if h.p.retry {
			restoreOrigin(m)
		}
	}
	s.live.Store(int64(len(s.ds)))
	k.cur, k.i = s, 0
	return nil
}

// hold keeps h until it is due, pausing its partition so that kgo fetches
// nothing more of it meanwhile (what it had buffered it fetches again
// after the resume).
func (k *reader) hold(h heldRecord) {
	if len(k.held[h.p]) == 0 {
		k.pause(topicPartition{h.p.topic, h.p.id}, pausedHeld)
	}
	k.held[h.p] = append(k.held[h.p], h)
}

// pause pauses fetching tp for why, in kgo when it is the first reason.
func (k *reader) pause(tp topicPartition, why pauseWhy) {
	k.pauseMu.Lock()
	defer k.pauseMu.Unlock()
	if k.paused[tp] == 0 {
		k.cl.PauseFetchPartitions(map[string][]int32{tp.topic: {tp.partition}})
	}
	k.paused[tp] |= why
}

// resume takes why away from tp's pause reasons, resuming its fetching
// in kgo when none is left.
func (k *reader) resume(tp topicPartition, why pauseWhy) {
	k.pauseMu.Lock()
	defer k.pauseMu.Unlock()
	was := k.paused[tp]
	if was&why == 0 {
		return
	}
	if k.paused[tp] = was &^ why; k.paused[tp] == 0 {
		delete(k.paused, tp)
		k.cl.ResumeFetchPartitions(map[string][]int32{tp.topic: {tp.partition}})
	}
}

// FetchedFrom implements broker.FetchPauser: the partition bd was
// fetched from, a retry topic's for a record that reads as its origin.
func (k *reader) FetchedFrom(bd *broker.Delivery) (topic string, partition int32) {
	d, ok := bd.Settler.(*delivery)
	if !ok {
		return bd.Destination, bd.Kafka.Partition
	}
	return d.part.topic, d.part.id
}

// PauseFetch implements broker.FetchPauser: nothing more of the partition
// bd was fetched from (FetchedFrom) is fetched until resume is called (at
// most once counts). kgo drops what it had buffered of it and fetches that again after the
// resume; what Next holds from the last poll still comes.
func (k *reader) PauseFetch(bd *broker.Delivery) (resume func()) {
	d, ok := bd.Settler.(*delivery)
	if !ok {
		return func() {}
	}
	tp := topicPartition{d.part.topic, d.part.id}
	k.pause(tp, pausedBacklog)
	return sync.OnceFunc(func() { k.resume(tp, pausedBacklog) })
}

// SettleNote implements broker.SettleNoter: without a group (or with
// Peek) nothing is committed, so no settle is an ack the broker keeps.
func (k *reader) SettleNote() string {
	switch {
	case k.commits:
		return ""
	case k.group == "":
		return "nothing committed (no --group)"
	}
	return "nothing committed (--ack none)"
}

// releaseDue moves the held records due at now to pend, resuming the
// partitions with nothing held any more, and drops those of partitions
// given up (another member reads them again from the commit). It returns
// when the next held record is due, zero when none is held.
func (k *reader) releaseDue(now time.Time) time.Time {
	var next time.Time
	for p, q := range k.held {
		i := 0
		if !p.gone.Load() {
			for i < len(q) && !due(q[i].r).After(now) {
				i++
			}
			k.pend = append(k.pend, q[:i]...)
		} else {
			i = len(q)
		}
		if i == len(q) {
			delete(k.held, p)
			k.resume(topicPartition{p.topic, p.id}, pausedHeld)
			continue
		}
		k.held[p] = q[i:]
		if d := due(q[i].r); next.IsZero() || d.Before(next) {
			next = d
		}
	}
	return next
}

func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// fetchErr sorts the errors of a poll: it returns the first final one and
// warns about the others, which kgo retries.
func (k *reader) fetchErr(ctx context.Context, fs kgo.Fetches) error {
	var final error
	fs.EachError(func(topic string, part int32, err error) {
		var (
			loss     *kgo.ErrDataLoss
			tooLarge *kgo.ErrDecompressTooLarge
		)
		switch {
		case final != nil:
		case isCtxErr(err) && ctx.Err() != nil:
			final = ctx.Err()
		case isCtxErr(err):
			// Woken up: the consumer caught up.
		case errors.Is(err, kgo.ErrClientClosed):
			final = mqerr.New(mqerr.Failure, "kafka consumer is closed")
		case denied(err) && topic == "":
			final = broker.Scrub(mqerr.New(mqerr.Auth, "kafka at %s denied joining the consumer group: %v", hostList(k.conn.seeds), err), k.conn.secrets...)
		case denied(err):
			final = broker.Scrub(mqerr.New(mqerr.Auth, "kafka at %s denied reading topic %q: %v", hostList(k.conn.seeds), topic, err), k.conn.secrets...)
		case errors.Is(err, kerr.UnknownTopicOrPartition) || errors.Is(err, kerr.UnknownTopicID):
			final = k.deleted(ctx, topic, err)
		case errors.As(err, &loss):
			k.warn.logf("kafka: %v", err)
		case errors.As(err, &tooLarge):
			final = mqerr.New(mqerr.Failure, "kafka topic %q partition %d: %v", topic, part, err)
		case topic == "":
			k.warn.warnf("kafka consumer group: %v; retrying", err)
		default:
			k.warn.warnf("kafka fetch from topic %q partition %d failed: %v; retrying", topic, part, err)
		}
	})
	return final
}

// deleted answers a fetch that found no topic: an error when the topic is
// really gone, nil (with a warning) when the broker only lost track of it
// for a while, as one restarting does.
func (k *reader) deleted(ctx context.Context, topic string, fetchErr error) error {
	// kgo retries the fetch every few hundred milliseconds; one
	// metadata request a second is enough to notice a deletion.
	if time.Since(k.checked) < time.Second {
		return nil
	}
	k.checked = time.Now()
	ctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	err := k.conn.topicExists(ctx, k.timeout, topic)
	if mqerr.Is(err, mqerr.NotFound) {
		return mqerr.New(mqerr.NotFound, "topic %q was deleted from kafka at %s while consuming", topic, hostList(k.conn.seeds))
	}
	k.warn.warnf("kafka fetch from topic %q failed: %v; retrying", topic, fetchErr)
	return nil
}

// Stale implements broker.StaleChecker: with a group, the record's
// partition was revoked or lost (or the consumer closed). The revoke
// committed what was handled, so the partition's next owner reads the
// record again; a settle here would fail. Without a group nothing is
// committed and settles never fail, so nothing is stale.
func (d *delivery) Stale() bool {
	return d.part.k.commits && d.part.gone.Load()
}

// Settle implements broker.Settler. With a group, Ack and Term mark the
// record handled and Nack leaves a hole in its partition (see tracker);
// InProgress does nothing. Without one nothing is committed and every
// settle is a no-op. Once a settle other than InProgress succeeded the
// delivery may be reused (see NewConsumer); after a failed one the caller
// may still read it.
func (d *delivery) Settle(_ context.Context, s broker.Settlement) error {
	if s.Verb < broker.Ack || s.Verb > broker.InProgress {
		return mqerr.Usagef("unknown settle verb %d", s.Verb)
	}
	if s.Verb == broker.InProgress {
		return nil
	}
	p := d.part
	k := p.k
	if !k.commits {
		if s.Verb == broker.Nack {
			k.nackOnce.Do(func() {
				k.warn.logf("kafka: nothing is committed without a group (or when peeking), so a nacked record is not read again")
			})
		}
		d.release()
		return nil
	}
	p.mu.Lock()
	if p.gone.Load() {
		p.mu.Unlock()
		return fmt.Errorf("kafka topic %q partition %d offset %d%s: this consumer no longer holds the partition: %w",
			p.topic, p.id, d.offset, d.retryOf(), broker.ErrStaleDelivery)
	}
	first := false
	if s.Verb == broker.Nack {
		first = p.t.nack(d.seq)
	} else {
		p.t.handle(d.seq)
	}
	p.mu.Unlock()
	if first {
		k.warn.logf("kafka has no per-record nack: topic %q partition %d is not committed from offset %d on%s; those records come again after a restart or rebalance",
			p.topic, p.id, d.offset, d.retryOf())
	}
	d.release()
	return nil
}

// retryOf names, for a record read back from a retry topic, the record
// it is the retry of, as it was handed out: " (the retry of
// orders[0]@12)"; "" for any other record.
func (d *delivery) retryOf() string {
	if !d.part.retry {
		return ""
	}
	return " (the retry of " + d.Where() + ")"
}
