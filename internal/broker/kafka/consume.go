package kafka

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

var _ broker.Subscriber = (*Conn)(nil)

const (
	// defaultPollRecords bounds one poll when ConsumerOptions.Prefetch is
	// 0: the deliveries of a poll share one slab, and a caller typically
	// flushes its output once per poll.
	defaultPollRecords = 1024
	// commitInterval is how often a group member commits what was acked.
	commitInterval = time.Second
	// warnEvery spaces out repeated warnings about a broker being down.
	warnEvery = 5 * time.Second
)

// reader is the Kafka consumer: it reads records for `mqctl consume`.
//
// Without a group (or with Peek) it assigns partitions directly and never
// commits. With a group it is a member with autocommit off: an acked
// record's offset is committed, every commitInterval, once every earlier
// record of its partition was acked or termed (see tracker); a revoke
// commits before the partitions go, and Close commits before leaving.
type reader struct {
	conn  *Conn
	cl    *kgo.Client
	group string
	// commits: a group member that commits (not Peek).
	commits  bool
	untilEnd bool
	// pollMax bounds the records of one poll.
	pollMax int
	// timeout bounds Close and every commit: the target's timeout.
	timeout time.Duration
	warn    *warner

	// cur holds the deliveries of the last poll; Next hands out
	// cur.ds[i:]. Only Next and Buffered touch them.
	cur *slab
	i   int
	// free are slabs whose deliveries were all settled, for reuse.
	freeMu sync.Mutex
	free   []*slab
	// checked is when Next last asked whether a topic it cannot fetch
	// still exists.
	checked time.Time

	// mu guards parts and seen, which the group's callbacks change.
	mu    sync.Mutex
	parts map[topicPartition]*partition
	// seen are the partitions this member was assigned before: an
	// explicit start position applies to a partition's first assignment
	// only, later ones resume from the group's commit.
	seen map[topicPartition]bool
	// starts and ends are the partitions' offsets when the consumer
	// started; explicit holds where an explicit From starts each of them.
	starts, ends kadm.ListedOffsets
	explicit     map[topicPartition]int64

	// assigned is true while this consumer holds an assignment; undone
	// counts its partitions not yet read to their end (UntilEnd).
	assigned atomic.Bool
	undone   atomic.Int64
	// wake, when set, ends the poll Next waits in (UntilEnd): the
	// partitions may be read to their end without another record coming.
	wakeMu sync.Mutex
	wake   context.CancelFunc

	// commitMu serialises commits with revokes: a commit that collected
	// a partition's offset is sent before the partition is given up.
	commitMu sync.Mutex
	// stopLoop ends commitLoop, cancelling a commit in flight (Close
	// commits everything itself); loopDone is closed when it returned.
	stopLoop context.CancelFunc
	loopDone chan struct{}

	closeOnce sync.Once
	closeErr  error
	nackOnce  sync.Once
	// closing is set once Close began: connection attempts it cuts short
	// are no broker trouble (see connWatch).
	closing atomic.Bool

	// retry names the retry topics read (see retry.go); held are their
	// records not yet due, per partition in offset order, while the
	// partition is paused. Only Next touches held and pend.
	retry map[string]bool
	held  map[*partition][]heldRecord
	pend  []heldRecord

	// paused says why each paused partition is (kgo has one pause per
	// partition): records held until due, or a caller's PauseFetch.
	pauseMu sync.Mutex
	paused  map[topicPartition]pauseWhy
}

// pauseWhy is a set of reasons a partition's fetching is paused.
type pauseWhy uint8

const (
	pausedHeld    pauseWhy = 1 << iota // retry records held until due
	pausedBacklog                      // PauseFetch: the caller has enough
)

// heldRecord is a record fetched and tracked but not yet handed out.
type heldRecord struct {
	p   *partition
	r   *kgo.Record
	seq uint64
}

// partition is the consumer's state for one assigned partition. A new one
// is made for each assignment, so deliveries from an earlier one are told
// apart by pointer.
type partition struct {
	k     *reader
	topic string
	id    int32
	// end is the offset from which records are not delivered: the
	// snapshot end with UntilEnd, math.MaxInt64 without.
	end int64
	// retry: a retry topic's partition, whose records wait until due.
	retry bool
	done  atomic.Bool
	// gone is set, under mu, once the partition was revoked or lost or
	// the consumer closed: its deliveries can no longer be settled.
	gone atomic.Bool
	mu   sync.Mutex
	t    tracker
}

// NewConsumer opens a consumer of o.Sources, which must all exist.
//
// Start positions: without a group (or with Peek), From applies to every
// partition read; StartDefault is the beginning, and with Peek and a group
// the group's commit (else the beginning), read without joining the group.
// With a group, StartDefault and StartStored resume from the group's
// commit, else the beginning; an explicit From (beginning, end, offset,
// last, time) applies to each partition the first time this member is
// assigned it, so one run can rewind or skip its group, while partitions
// taken over in later rebalances resume from the commit their previous
// owner made. Offsets past the end or before the start are clamped.
//
// Prefetch bounds the records one poll hands out (kgo's own fetch buffer
// is bounded in bytes).
//
// A delivery must be settled at most once and not be used after it was
// settled: its memory, Headers included, is reused for a later record
// (see slab). Key, Value and the header values point into kgo's memory
// and stay valid.
func (c *Conn) NewConsumer(ctx context.Context, o broker.ConsumerOptions) (broker.Consumer, error) {
	topics, err := consumerTopics(o)
	if err != nil {
		return nil, err
	}
	var retries []string
	if o.Group != "" && !o.Peek {
		retries = retryTopics(topics, o.RetryDelays)
		topics = append(topics, retries...)
	}
	within := remaining(ctx)
	if err := c.topicExists(ctx, within, topics...); err != nil {
		return nil, err
	}
	k := &reader{
		conn:     c,
		group:    o.Group,
		commits:  o.Group != "" && !o.Peek,
		untilEnd: o.UntilEnd,
		pollMax:  defaultPollRecords,
		timeout:  c.client.OptValue(kgo.DialTimeout).(time.Duration),
		warn:     &warner{out: o.Logf},
		parts:    map[topicPartition]*partition{},
		seen:     map[topicPartition]bool{},
		retry:    map[string]bool{},
		held:     map[*partition][]heldRecord{},
		paused:   map[topicPartition]pauseWhy{},
	}
	for _, t := range retries {
		k.retry[t] = true
	}
	if o.Prefetch > 0 {
		k.pollMax = o.Prefetch
	}
	if k.starts, err = c.admin.ListStartOffsets(ctx, topics...); err == nil {
		k.ends, err = c.admin.ListEndOffsets(ctx, topics...)
	}
	if err == nil {
		err = c.listedErr(k.starts, k.ends)
	}
	if err != nil {
		return nil, c.offsetsErr(err, within)
	}
	read, err := c.partitionsToRead(o, topics, k.ends)
	if err != nil {
		return nil, err
	}
	if k.explicit, err = c.startOffsets(ctx, o, topics, read, k.starts, k.ends); err != nil {
		return nil, c.offsetsErr(err, within)
	}

	opts := append(slices.Clip(c.client.Opts()),
		kgo.WithHooks(connWatch{k.warn, &k.closing}),
		// Retryable errors are otherwise dropped silently: keeping
		// them lets Next report an unreachable broker and notice a
		// deleted topic.
		kgo.KeepRetryableFetchErrors(),
		// Transaction markers are handed over so that the offsets they
		// take can be passed (see poll).
		kgo.KeepControlRecords(),
		// Small fetches, two at a time: kgo's defaults (50 MiB per fetch,
		// one in flight per broker) held 170-200 MiB for a 100 MB topic
		// and were slower too (1M x 100 B on kfake: 0.75 s and 170 MiB
		// against 0.51 s and 63 MiB).
		kgo.FetchMaxBytes(1<<20), kgo.FetchMaxPartitionBytes(512<<10), kgo.MaxConcurrentFetches(2),
	)
	if k.commits {
		opts = append(opts,
			kgo.ConsumerGroup(o.Group),
			kgo.ConsumeTopics(topics...),
			kgo.DisableAutoCommit(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.OnPartitionsAssigned(k.assign),
			kgo.AdjustFetchOffsetsFn(k.adjust),
			kgo.OnPartitionsRevoked(k.revoke),
			kgo.OnPartitionsLost(k.lose),
			// A CLI member killed with -9 holds its partitions until its
			// session expires; Kafka's 45 s default would stall a rerun
			// (and --until-end) that long.
			kgo.SessionTimeout(groupSessionTimeout),
		)
	} else {
		assign := map[string]map[int32]kgo.Offset{}
		for _, tp := range read {
			at := k.explicit[tp]
			if assign[tp.topic] == nil {
				assign[tp.topic] = map[int32]kgo.Offset{}
			}
			assign[tp.topic][tp.partition] = kgo.NewOffset().At(at)
			p := k.newPartition(tp)
			k.parts[tp] = p
			if at >= p.end {
				k.finish(p)
			}
		}
		k.assigned.Store(true)
		opts = append(opts, kgo.ConsumePartitions(assign))
	}
	if k.cl, err = kgo.NewClient(opts...); err != nil {
		return nil, mqerr.Usagef("kafka consumer for %s: %v", hostList(c.seeds), err)
	}
	if k.commits {
		var loopCtx context.Context
		loopCtx, k.stopLoop = context.WithCancel(context.Background())
		k.loopDone = make(chan struct{})
		go k.commitLoop(loopCtx)
	}
	return k, nil
}

// consumerTopics checks o for what a Kafka consumer cannot do and returns
// its topics without repeats.
func consumerTopics(o broker.ConsumerOptions) ([]string, error) {
	switch {
	case len(o.Sources) == 0:
		return nil, mqerr.Usagef("kafka consumer needs at least one topic")
	case o.Group != "" && len(o.Partitions) > 0:
		return nil, mqerr.Usagef("kafka partitions cannot be chosen with a group: the group assigns them (drop --partition or --group)")
	case o.Group == "" && o.From.Kind == broker.StartStored:
		return nil, mqerr.Usagef("--from stored needs --group: only a consumer group stores a position on kafka")
	case o.Prefetch < 0:
		return nil, mqerr.Usagef("prefetch must be positive, got %d", o.Prefetch)
	case o.Core || o.QueueGroup != "" || o.Durable != "" || o.FilterSubject != "":
		return nil, mqerr.Usagef("core subjects, queue groups, durables and filter subjects are NATS options; kafka has none of them")
	case o.MultiAck != 0:
		return nil, mqerr.Usagef("multi-ack is RabbitMQ's (basic.ack with multiple); kafka commits offsets, which covers every record before them anyway")
	}
	switch o.From.Kind {
	case broker.StartDefault, broker.StartBeginning, broker.StartEnd, broker.StartStored:
	case broker.StartOffset, broker.StartLast:
		if o.From.N < 0 {
			return nil, mqerr.Usagef("kafka start offset or count must not be negative, got %d", o.From.N)
		}
	case broker.StartTime:
		if o.From.Time.IsZero() {
			return nil, mqerr.Usagef("kafka start time is missing")
		}
	default:
		return nil, mqerr.Usagef("unknown start position %d", o.From.Kind)
	}
	for _, p := range o.Partitions {
		if p < 0 {
			return nil, mqerr.Usagef("kafka partition must not be negative, got %d", p)
		}
	}
	var topics []string
	for _, t := range o.Sources {
		if t == "" {
			return nil, mqerr.Usagef("kafka topic name is empty")
		}
		if !slices.Contains(topics, t) {
			topics = append(topics, t)
		}
	}
	return topics, nil
}

// listedErr returns the first error in offset listings; a topic kadm could
// not look up is listed as partition -1.
func (c *Conn) listedErr(listings ...kadm.ListedOffsets) error {
	for _, l := range listings {
		var err error
		l.Each(func(o kadm.ListedOffset) {
			switch {
			case err != nil || o.Err == nil:
			case errors.Is(o.Err, kerr.UnknownTopicOrPartition):
				err = mqerr.New(mqerr.NotFound, "topic %q does not exist on kafka at %s", o.Topic, hostList(c.seeds))
			default:
				err = fmt.Errorf("listing the offsets of topic %q partition %d: %w", o.Topic, o.Partition, o.Err)
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// offsetsErr classifies an error found while preparing a consumer, leaving
// typed ones alone.
func (c *Conn) offsetsErr(err error, within time.Duration) error {
	var typed *mqerr.Error
	if errors.As(err, &typed) {
		return err
	}
	return c.classify(err, within)
}

// partitionsToRead lists the partitions a consumer without a group (or with
// Peek) assigns itself: all partitions of topics, or o.Partitions of each.
// A member of a group reads what the group assigns, so it gets none.
func (c *Conn) partitionsToRead(o broker.ConsumerOptions, topics []string, ends kadm.ListedOffsets) ([]topicPartition, error) {
	if o.Group != "" && !o.Peek {
		return nil, nil
	}
	var read []topicPartition
	for _, t := range topics {
		if len(o.Partitions) == 0 {
			for p := range ends[t] {
				read = append(read, topicPartition{t, p})
			}
			continue
		}
		for _, p := range o.Partitions {
			if _, ok := ends[t][p]; !ok {
				return nil, mqerr.New(mqerr.NotFound, "topic %q has no partition %d on kafka at %s (it has %d)", t, p, hostList(c.seeds), len(ends[t]))
			}
			if !slices.Contains(read, topicPartition{t, p}) {
				read = append(read, topicPartition{t, p})
			}
		}
	}
	return read, nil
}

// startOffsets resolves o.From to an offset for every partition: those in
// read (direct assignment), or every partition of topics for a group
// member with an explicit From. A group member resuming from its commit
// gets nil.
func (c *Conn) startOffsets(ctx context.Context, o broker.ConsumerOptions, topics []string, read []topicPartition, starts, ends kadm.ListedOffsets) (map[topicPartition]int64, error) {
	member := o.Group != "" && !o.Peek
	from := o.From
	if member {
		if from.Kind == broker.StartDefault || from.Kind == broker.StartStored {
			return nil, nil
		}
		ends.Each(func(l kadm.ListedOffset) { read = append(read, topicPartition{l.Topic, l.Partition}) })
	}
	var (
		commits kadm.OffsetResponses
		times   kadm.ListedOffsets
		err     error
	)
	switch {
	case o.Peek && o.Group != "" && (from.Kind == broker.StartDefault || from.Kind == broker.StartStored):
		// Read where the group is, without joining it: joining
		// would rebalance a live group.
		commits, err = c.admin.FetchOffsets(ctx, o.Group)
		if errors.Is(err, kerr.GroupIDNotFound) {
			commits, err = nil, nil
		}
	case from.Kind == broker.StartTime:
		times, err = c.admin.ListOffsetsAfterMilli(ctx, from.Time.UnixMilli(), topics...)
		if err == nil {
			err = c.listedErr(times)
		}
	}
	if err != nil {
		return nil, err
	}
	out := make(map[topicPartition]int64, len(read))
	for _, tp := range read {
		start, end := starts[tp.topic][tp.partition].Offset, ends[tp.topic][tp.partition].Offset
		var at int64
		switch from.Kind {
		case broker.StartEnd:
			at = end
		case broker.StartOffset:
			at = from.N
		case broker.StartLast:
			at = end - from.N
		case broker.StartTime:
			at = times[tp.topic][tp.partition].Offset
		case broker.StartBeginning:
			at = start
		default: // StartDefault, StartStored
			at = start
			if r, ok := commits.Lookup(tp.topic, tp.partition); ok && r.Err == nil && r.At >= 0 {
				at = r.At
			}
		}
		out[tp] = min(max(at, start), end)
	}
	return out, nil
}

// groupSessionTimeout is how long the group waits for a silent member.
const groupSessionTimeout = 10 * time.Second

// othersCaughtUp reports, with UntilEnd in a group, whether the partitions
// this member does not hold were read to their snapshot end by the rest of
// the group: their commits reached it. Until they do, a rebalance may still
// hand them here (a member that died keeps them until its session
// expires), so io.EOF would leave records of the start unread.
func (k *reader) othersCaughtUp(ctx context.Context) (bool, error) {
	if !k.commits {
		return true, nil
	}
	behind := false
	k.mu.Lock()
	var others []topicPartition
	k.ends.Each(func(l kadm.ListedOffset) {
		tp := topicPartition{l.Topic, l.Partition}
		if k.parts[tp] == nil && l.Offset > k.start(tp) {
			others = append(others, tp)
		}
	})
	k.mu.Unlock()
	if len(others) == 0 {
		return true, nil
	}
	fctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	commits, err := k.conn.admin.FetchOffsets(fctx, k.group)
	if err != nil {
		return false, err
	}
	for _, tp := range others {
		end, _ := k.ends.Lookup(tp.topic, tp.partition)
		if c, ok := commits.Lookup(tp.topic, tp.partition); !ok || c.At < end.Offset {
			behind = true
			break
		}
	}
	return !behind, nil
}

// newPartition makes the state of a partition just assigned.
func (k *reader) newPartition(tp topicPartition) *partition {
	p := &partition{k: k, topic: tp.topic, id: tp.partition, end: math.MaxInt64, retry: k.retry[tp.topic]}
	if k.untilEnd {
		// A partition created after the start had nothing then.
		p.end = 0
		if l, ok := k.ends.Lookup(tp.topic, tp.partition); ok {
			p.end = l.Offset
		}
	}
	k.undone.Add(1)
	return p
}

// finish marks p read to its end: it no longer holds up io.EOF.
func (k *reader) finish(p *partition) {
	if p.done.CompareAndSwap(false, true) && k.undone.Add(-1) == 0 {
		k.wakeUp()
	}
}

// caughtUp reports whether Next should answer io.EOF once its buffered
// records are out.
func (k *reader) caughtUp() bool {
	return k.untilEnd && k.assigned.Load() && k.undone.Load() == 0
}

// wakeUp ends the poll Next waits in when the consumer caught up.
func (k *reader) wakeUp() {
	k.wakeMu.Lock()
	defer k.wakeMu.Unlock()
	if k.wake != nil && k.caughtUp() {
		k.wake()
	}
}

// start is where partition tp started when the consumer did.
func (k *reader) start(tp topicPartition) int64 {
	l, _ := k.starts.Lookup(tp.topic, tp.partition)
	return l.Offset
}

// Close commits what was handled, leaves the group and closes the client,
// all within the target's timeout. Settles from then on fail as stale.
func (k *reader) Close() error {
	k.closeOnce.Do(func() {
		k.closing.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), k.timeout)
		defer cancel()
		// Stale first, so no ack slips in after the last commit with
		// its Settle answering nil.
		k.mu.Lock()
		for _, p := range k.parts {
			p.leave()
		}
		k.mu.Unlock()
		if k.commits {
			k.stopLoop()
			<-k.loopDone
			k.commitMu.Lock()
			err := k.commitRetrying(ctx, k.cl)
			k.commitMu.Unlock()
			if err != nil {
				cerr := k.conn.classify(err, k.timeout)
				k.closeErr = mqerr.New(mqerr.KindOf(cerr), "committing the offsets of group %q at close: %w", k.group, cerr)
			}
		}
		k.shutdown(ctx)
	})
	return k.closeErr
}

// shutdown leaves the group and closes the client, waiting until ctx ends
// at most: kgo's Close waits for the group to be left, which with an
// unreachable broker lasts as long as kgo retries. The client then
// finishes closing in the background.
func (k *reader) shutdown(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = k.cl.LeaveGroupContext(ctx)
		k.cl.Close()
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// warner passes warnings to ConsumerOptions.Logf, the repetitive ones at
// most once per warnEvery.
type warner struct {
	out        func(format string, args ...any)
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (w *warner) logf(format string, args ...any) {
	if w.out != nil {
		w.out(format, args...)
	}
}

// warnf logs unless a warning was logged within warnEvery.
func (w *warner) warnf(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	if now.Sub(w.last) < warnEvery {
		w.suppressed++
		return
	}
	if w.suppressed > 0 {
		format += " (%d similar warnings suppressed)"
		args = append(args, w.suppressed)
	}
	w.last, w.suppressed = now, 0
	w.logf(format, args...)
}

// connWatch warns when a broker cannot be reached; kgo retries it. An
// attempt cancelled (a poll that ended, the client closing) or cut short
// by Close says nothing about the broker: a consume that ends at once
// (an empty topic with --until-end) closes while kgo still connects.
type connWatch struct {
	w       *warner
	closing *atomic.Bool
}

var _ kgo.HookBrokerConnect = connWatch{}

func (h connWatch) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err == nil || h.closing.Load() || errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
		return
	}
	h.w.warnf("cannot connect to kafka broker %s: %s; reconnecting", net.JoinHostPort(meta.Host, strconv.Itoa(int(meta.Port))), reason(err))
}
