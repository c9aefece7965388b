package bench

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mqctl/mqctl/internal/broker"
)

// Workload is what a run does. Mode is "pub", "sub" or "e2e".
type Workload struct {
	Mode      string        `json:"mode"`
	Producers int           `json:"producers"`
	Consumers int           `json:"consumers"`
	Size      int           `json:"size"`
	Count     int64         `json:"count,omitempty"`
	Duration  time.Duration `json:"duration,omitempty"`
	Warmup    time.Duration `json:"warmup,omitempty"`
	Rate      float64       `json:"rate,omitempty"` // aggregate msgs/s; 0 is unlimited
	InFlight  int           `json:"in_flight"`
	// Batch > 0 makes each producer wait, after every Batch messages,
	// until the driver's Flush says all were confirmed (or, unconfirmed,
	// flushed).
	Batch int `json:"batch,omitempty"`
	// CrossHost (--e2e-cross-host): payloads carry their intended send
	// time as wall-clock Unix ns, so a bench sub in another process (on
	// another host whose clock agrees) can measure end-to-end latency;
	// sub measures it from such payloads. Without it the send time is on
	// the sender's monotonic clock, which only the same process can read.
	CrossHost bool `json:"e2e_cross_host,omitempty"`
	// Payload, when set, is the payload template (the header overwrites
	// its first HeaderLen bytes).
	Payload []byte `json:"-"`
}

// Env is what a run uses: the broker roles and the options the command
// worked out for the destination.
type Env struct {
	Publisher  broker.Publisher
	Subscriber broker.Subscriber
	Producer   broker.ProducerOptions
	Consumer   broker.ConsumerOptions
	// Tick, when set, is called about once a second, and once at the end
	// for the last part-second, with that interval's figures.
	Tick func(Tick)
	// DrainIdle is how long consumers may receive nothing before the run
	// stops waiting for confirmed messages still missing (default 5s:
	// more than twice the 2 s a JetStream consumer may pause when nats.go
	// lost its pull request, see the nats driver's pullHeartbeat).
	DrainIdle time.Duration
	// DropEvery is a test hook: the consumers ignore every dropEvery-th
	// delivery (acked, never counted), as a broker losing it would.
	DropEvery int64
}

// Tick is one interval of the timeline (about a second): the counts in
// the interval, the totals so far, and the interval's latencies.
type Tick struct {
	Elapsed  time.Duration // since the start, at the end of the interval
	Interval time.Duration
	// In the interval.
	Sent, Confirmed, Failed, Received int64
	// So far.
	TotalSent, TotalConfirmed, TotalFailed, TotalReceived int64
	InFlight                                              int64
	// Sub: a bench sub run, which only receives: its throughput is what
	// it received, ReceivedBytes in the interval (the messages' own sizes,
	// not --size).
	Sub           bool
	ReceivedBytes int64
	// Duplicated in the interval and so far. Delivered (bench sub): every
	// message read in the interval, duplicates and foreign ones included.
	// Gaps (bench sub) so far: see Result.Gaps; it shrinks when a late
	// message fills one.
	Duplicated, TotalDuplicated int64
	Delivered, TotalDelivered   int64
	Gaps                        int64
	Confirm, E2E, Delay         TickLatency
	// Unconfirmed: the driver reported messages written, not confirmed
	// (core NATS, RabbitMQ --confirm=false).
	Unconfirmed bool
}

// TickLatency is one interval histogram reduced to what a timeline row
// shows (µs; zero when nothing was recorded).
type TickLatency struct {
	Count         int64
	P50, P99, Max int64
}

func tickLatency(h *hdr.Histogram) TickLatency {
	return TickLatency{Count: h.TotalCount(), P50: h.ValueAtQuantile(50), P99: h.ValueAtQuantile(99), Max: h.Max()}
}

// Result is a finished (or interrupted) run.
type Result struct {
	Workload Workload
	Elapsed  time.Duration
	// SendElapsed is from the start to the last message handed to the
	// driver: past Warmup+Duration when a producer fell behind its --rate
	// schedule and sent the rest late.
	SendElapsed time.Duration
	Sent        int64
	Confirmed   int64
	Failed      int64
	Received    int64
	// ReceivedBytes is what a bench sub run received, in payload bytes.
	ReceivedBytes int64
	// Sub is a bench sub run's accounting of what another process sent.
	Sub         *SubCounts
	Lost        int64
	Duplicated  int64
	Foreign     int64
	Interrupted bool
	// Unconfirmed: nothing confirmed the messages counted as confirmed;
	// they were only written (flushed): Lost then counts messages written
	// and never received.
	Unconfirmed bool
	FirstError  string
	Confirm     *hdr.Histogram // publish→confirm, µs
	E2E         *hdr.Histogram // publish→receive, µs
	Delay       *hdr.Histogram // actual − intended send time, µs
	Timeline    []Tick
	// E2EClock is the clock of the payloads' send times and of E2E:
	// ClockMonotonic, ClockWall (CrossHost), or "" (bench sub without
	// CrossHost, which measures nothing).
	E2EClock string
	// With CrossHost: E2ENegative end-to-end values were below zero
	// (received before they were sent: the clocks disagree), by up to
	// E2ENegativeMax; they are not in E2E. E2EUnstamped messages received
	// by bench sub carried no wall-clock send time.
	E2ENegative    int64
	E2ENegativeMax time.Duration
	E2EUnstamped   int64
}

// SubCounts is what bench sub can tell of the bench payloads another
// process sent, by run id, producer id and sequence: received (first
// time) and duplicated are Result's, foreign ones are Result.Foreign.
type SubCounts struct {
	// Runs and Producers seen: distinct run ids, and (run id, producer
	// id) pairs.
	Runs      int64 `json:"runs"`
	Producers int64 `json:"producers"`
	// Gaps: sequences below a producer's highest one received that were
	// never received. Not proof of loss: the sender may have failed to
	// send them, or a retention limit dropped them; and what was lost
	// after a producer's last message received is not seen at all.
	Gaps int64 `json:"gaps"`
	// Unchecked: bench payloads received (and counted in received) that
	// could not be checked for duplicates or gaps: below a producer's
	// window after the tracker's 32 MiB slid it up, or with it full.
	Unchecked int64 `json:"unchecked,omitempty"`
	// Delivered: every message read, duplicates and foreign ones
	// included (what --count counts and msg/s measures).
	Delivered int64 `json:"delivered"`
}

// The clocks a run's send times and end-to-end latency are on.
const (
	ClockMonotonic = "monotonic"
	ClockWall      = "wall"
)

// fromIntended is the coordinated-omission correction: under a fixed rate,
// latencies are measured from the intended send time. Tests turn it off to
// show the correction is what makes a stall visible.
var fromIntended = true

// newHist tracks 1 µs to 1 hour with 3 significant digits.
func newHist() *hdr.Histogram { return hdr.New(1, int64(time.Hour/time.Microsecond), 3) }

// lockedHist is one goroutine's histograms: values go into cur, which
// roll moves into total once per interval. done callbacks may come from a
// driver goroutine, hence the lock. A producer's two are made one after
// the other and locked per message by different goroutines (the
// producer's delay, the driver's confirm): padded to 128 bytes, they do
// not share a cache line.
type lockedHist struct {
	mu    sync.Mutex
	cur   *hdr.Histogram
	total *hdr.Histogram
	_     [104]byte
}

func newLockedHist() *lockedHist { return &lockedHist{cur: newHist(), total: newHist()} }

func (l *lockedHist) record(d time.Duration) {
	us := d.Microseconds()
	if us < 1 {
		us = 1
	}
	l.mu.Lock()
	_ = l.cur.RecordValue(us) // beyond an hour: dropped, like the histogram's range
	l.mu.Unlock()
}

// roll adds the interval's values to interval and to the total, and
// starts a new interval.
func (l *lockedHist) roll(interval *hdr.Histogram) {
	l.mu.Lock()
	interval.Merge(l.cur)
	l.total.Merge(l.cur)
	l.cur.Reset()
	l.mu.Unlock()
}

// rollAll rolls hs and returns the interval's merged histogram.
func rollAll(hs []*lockedHist) *hdr.Histogram {
	out := newHist()
	for _, h := range hs {
		h.roll(out)
	}
	return out
}

// counters are written per message by different goroutines: sent by the
// producers, confirmed by the driver goroutines that call done, received
// by the consumers. Each group has its own cache line (128 bytes: the
// line and its neighbour, which x86 prefetches with it), so that one
// side's count does not take the line from under another's at every
// message.
type counters struct {
	sent atomic.Int64
	_    [120]byte

	confirmed, failed atomic.Int64
	unconfirmed       atomic.Bool
	_                 [108]byte // to 128 bytes

	received, dup, foreign atomic.Int64
	// Sub mode only: every delivery (received, duplicated, foreign and
	// unchecked alike), and their payload bytes.
	delivered, receivedBytes atomic.Int64
	// CrossHost only: see Result.
	unstamped, negative, negativeMax atomic.Int64
}

// recordWall records an end-to-end latency taken between wall clocks. A
// negative one (received before it was sent: the sender's clock is ahead)
// is counted, not recorded: the histogram's 1 µs floor would hide it.
func (c *counters) recordWall(h *lockedHist, d time.Duration) {
	if d >= 0 {
		h.record(d)
		return
	}
	c.negative.Add(1)
	for {
		m := c.negativeMax.Load()
		if int64(-d) <= m || c.negativeMax.CompareAndSwap(m, int64(-d)) {
			return
		}
	}
}

// Run runs w. ctx ending stops sending; what is in flight is drained and
// the result so far returned with Interrupted set.
func Run(ctx context.Context, env Env, w Workload) (*Result, error) {
	if env.DrainIdle == 0 {
		env.DrainIdle = 5 * time.Second
	}
	runID := rand.Uint64()
	tr := newTracker(w.Producers)
	var sub *seqTracker
	if w.Mode == "sub" {
		sub = newSeqTracker(subBudget)
	}
	var c counters
	var errOnce sync.Once
	var firstErr string
	noteErr := func(err error) { errOnce.Do(func() { firstErr = err.Error() }) }

	confirmH := make([]*lockedHist, w.Producers)
	delayH := make([]*lockedHist, w.Producers)
	for i := range confirmH {
		confirmH[i], delayH[i] = newLockedHist(), newLockedHist()
	}
	e2eH := make([]*lockedHist, w.Consumers)
	for i := range e2eH {
		e2eH[i] = newLockedHist()
	}

	// Consumers first, so nothing sent is missed.
	consCtx, stopConsumers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopConsumers()
	start := time.Now()
	var lastRecv atomic.Int64
	lastSent := make([]time.Duration, w.Producers) // each producer's own
	var consWG sync.WaitGroup
	var consErr error
	var consErrMu sync.Mutex
	if w.Mode != "pub" {
		for i := 0; i < w.Consumers; i++ {
			cons, err := env.Subscriber.NewConsumer(ctx, env.Consumer)
			if err != nil {
				stopConsumers()
				consWG.Wait()
				return nil, err
			}
			consWG.Add(1)
			go func(h *lockedHist) {
				defer consWG.Done()
				defer cons.Close()
				var n int64
				for {
					d, err := cons.Next(consCtx)
					if err != nil {
						if consCtx.Err() == nil {
							consErrMu.Lock()
							consErr = err
							consErrMu.Unlock()
						}
						return
					}
					at := time.Now()
					now := at.Sub(start)
					if err := d.Ack(consCtx); err != nil && consCtx.Err() == nil {
						noteErr(err)
					}
					n++
					if env.DropEvery > 0 && n%env.DropEvery == 0 {
						continue
					}
					if w.Mode == "sub" {
						// Another process sent these: account for them by
						// run, producer and sequence; only a wall-clock
						// send time can be compared with ours.
						c.receivedBytes.Add(int64(len(d.Value)))
						c.delivered.Add(1)
						hd, err := parseHeader(d.Value)
						switch {
						case err != nil:
							c.foreign.Add(1)
						case sub.receive(hd.run, hd.producer, hd.seq):
							c.dup.Add(1)
							continue
						default:
							c.received.Add(1)
						}
						if w.CrossHost {
							switch {
							case err != nil || !hd.wall:
								c.unstamped.Add(1)
							case !hd.warm && now >= w.Warmup:
								c.recordWall(h, time.Duration(at.UnixNano()-hd.intended))
							}
						}
						continue
					}
					hd, err := parseHeader(d.Value)
					if err != nil || hd.run != runID {
						c.foreign.Add(1)
						continue
					}
					dup, ok := tr.receive(hd.producer, hd.seq)
					if !ok {
						c.foreign.Add(1)
						continue
					}
					lastRecv.Store(int64(now))
					if dup {
						c.dup.Add(1)
						continue
					}
					c.received.Add(1)
					switch {
					case hd.wall:
						if !hd.warm {
							c.recordWall(h, time.Duration(at.UnixNano()-hd.intended))
						}
					case time.Duration(hd.intended) >= w.Warmup:
						h.record(now - time.Duration(hd.intended))
					}
				}
			}(e2eH[i])
		}
	}

	// Timeline: one tick a second, the last one at the end.
	var timeline []Tick
	var prev Tick
	var prevBytes int64
	last := start
	tick := func() {
		now := time.Now()
		s, cf, f, rc := c.sent.Load(), c.confirmed.Load(), c.failed.Load(), c.received.Load()
		rb, dp, dl := c.receivedBytes.Load(), c.dup.Load(), c.delivered.Load()
		t := Tick{
			Sub: w.Mode == "sub", ReceivedBytes: rb - prevBytes,
			Duplicated: dp - prev.TotalDuplicated, TotalDuplicated: dp, Delivered: dl - prev.TotalDelivered, TotalDelivered: dl,
			Elapsed: now.Sub(start), Interval: now.Sub(last),
			Sent: s - prev.TotalSent, Confirmed: cf - prev.TotalConfirmed, Failed: f - prev.TotalFailed,
			Received: rc - prev.TotalReceived, TotalSent: s, TotalConfirmed: cf, TotalFailed: f, TotalReceived: rc, InFlight: s - cf - f,
			Confirm: tickLatency(rollAll(confirmH)), E2E: tickLatency(rollAll(e2eH)), Delay: tickLatency(rollAll(delayH)),
			Unconfirmed: c.unconfirmed.Load(),
		}
		if sub != nil {
			t.Gaps = sub.counts().Gaps()
		}
		last, prevBytes = now, rb
		prev = t
		timeline = append(timeline, t)
		if env.Tick != nil {
			env.Tick(t)
		}
	}
	tickDone := make(chan struct{})
	var tickWG sync.WaitGroup
	tickWG.Add(1)
	go func() {
		defer tickWG.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-tickDone:
				return
			case <-t.C:
				tick()
			}
		}
	}()
	stopTicks := func() {
		close(tickDone)
		tickWG.Wait()
	}

	interrupted := false
	if w.Mode != "sub" {
		var prodWG sync.WaitGroup
		for p := 0; p < w.Producers; p++ {
			prod, err := env.Publisher.NewProducer(ctx, env.Producer)
			if err != nil {
				stopConsumers()
				consWG.Wait()
				stopTicks()
				return nil, err
			}
			prodWG.Add(1)
			go func(p int) {
				defer prodWG.Done()
				defer prod.Close()
				// Only an e2e run compares what was confirmed with what
				// was received.
				var confirmed *tracker
				if w.Mode == "e2e" {
					confirmed = tr
				}
				lastSent[p] = produce(ctx, env, w, prod, p, runID, start, confirmed, &c, confirmH[p], delayH[p], noteErr)
			}(p)
		}
		prodWG.Wait()
		interrupted = ctx.Err() != nil
	}

	// Wait for the confirmed messages to arrive, while they keep coming.
	if w.Mode == "e2e" {
		lastRecv.Store(int64(time.Since(start)))
		for c.received.Load() < c.confirmed.Load() {
			if time.Since(start)-time.Duration(lastRecv.Load()) > env.DrainIdle {
				break
			}
			consErrMu.Lock()
			ce := consErr
			consErrMu.Unlock()
			if ce != nil {
				noteErr(ce)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	} else if w.Mode == "sub" {
		interrupted = waitSub(ctx, w, &c, start)
	}
	stopConsumers()
	consWG.Wait()
	stopTicks()
	tick()

	r := &Result{
		Workload: w, Elapsed: time.Since(start), SendElapsed: slices.Max(append(lastSent, 0)), Interrupted: interrupted, FirstError: firstErr, Unconfirmed: c.unconfirmed.Load(),
		Sent: c.sent.Load(), Confirmed: c.confirmed.Load(), Failed: c.failed.Load(),
		Received: c.received.Load(), ReceivedBytes: c.receivedBytes.Load(), Duplicated: c.dup.Load(), Foreign: c.foreign.Load(),
		Confirm: merge(confirmH), E2E: merge(e2eH), Delay: merge(delayH), Timeline: timeline,
		E2ENegative: c.negative.Load(), E2ENegativeMax: time.Duration(c.negativeMax.Load()), E2EUnstamped: c.unstamped.Load(),
	}
	switch {
	case w.CrossHost:
		r.E2EClock = ClockWall
	case w.Mode != "sub":
		r.E2EClock = ClockMonotonic
	}
	if w.Mode == "e2e" {
		r.Lost = tr.lost()
	}
	if sub != nil {
		n := sub.counts()
		r.Sub = &SubCounts{Runs: n.Runs, Producers: n.Producers, Gaps: n.Gaps(), Unchecked: n.Unchecked, Delivered: c.delivered.Load()}
	}
	return r, nil
}

func merge(hs []*lockedHist) *hdr.Histogram {
	out := newHist()
	for _, h := range hs {
		h.mu.Lock()
		out.Merge(h.total)
		h.mu.Unlock()
	}
	return out
}

// slot is one message of a producer's ring: its payload, the Message
// handed to the driver and the done callback, made once and reused
// (a message must not change until its done was called). Under a
// broker.Copier every slot shares one message and payload: the driver is
// done with it when Publish returns, and one message stays in cache where
// 65537 of them (a window of 65536, 100-byte payloads) span some 30 MiB.
type slot struct {
	b     []byte
	m     *broker.Message
	done  func(broker.Receipt, error)
	seq   uint64
	warm  bool
	from  time.Duration
	owner *producerState
}

// producerState is what a producer's done callbacks share.
type producerState struct {
	p     uint32
	start time.Time
	// tr records the confirmed sequences; nil when nothing compares them
	// with the received ones.
	tr       *tracker
	c        *counters
	confirmH *lockedHist
	free     *freeList
	noteErr  func(error)
}

func (s *slot) finish(r broker.Receipt, err error) {
	ps := s.owner
	if err != nil {
		ps.c.failed.Add(1)
		ps.noteErr(err)
	} else {
		if r.Unconfirmed && !ps.c.unconfirmed.Load() {
			ps.c.unconfirmed.Store(true)
		}
		if !s.warm {
			at := r.At
			if at.IsZero() {
				at = time.Now()
			}
			ps.confirmH.record(at.Sub(ps.start) - s.from)
		}
		if ps.tr != nil {
			ps.tr.confirm(ps.p, s.seq)
		}
		ps.c.confirmed.Add(1)
	}
	ps.free.put(s)
}

// produce is one producer's loop: pace, stamp, publish through the
// driver's producer, record the confirm in done. It returns when, since
// start, it handed its last message to the driver.
func produce(ctx context.Context, env Env, w Workload, prod broker.Producer, p int, runID uint64, start time.Time,
	tr *tracker, c *counters, confirmH, delayH *lockedHist, noteErr func(error)) (lastSent time.Duration) {
	inflight := w.InFlight
	if inflight <= 0 {
		inflight = 1
	}
	var count int64 = -1
	if w.Count > 0 {
		count = w.Count / int64(w.Producers)
		if int64(p) < w.Count%int64(w.Producers) {
			count++
		}
	}
	// The ring: a slot per message in flight, and one more; never more
	// than the producer sends. Slots, messages and payloads are three
	// allocations, not three per slot: at 10000 in flight, 30000 small
	// ones took 8 ms before the first send.
	n := inflight + 1
	if count >= 0 && count < int64(n) {
		n = max(int(count), 1)
	}
	ps := &producerState{p: uint32(p), start: start, tr: tr, c: c, confirmH: confirmH, free: newFreeList(n), noteErr: noteErr}
	ring := make([]slot, n)
	msgs := 1
	if !broker.CopiesOnPublish(prod) {
		msgs = n
	}
	payloads := make([]byte, msgs*w.Size)
	ms := make([]broker.Message, msgs)
	for i := range ms {
		b := payloads[i*w.Size : (i+1)*w.Size : (i+1)*w.Size]
		copy(b, w.Payload)
		ms[i].Value = b // drivers only read the Message
	}
	for i := range ring {
		s := &ring[i]
		s.m = &ms[i%msgs]
		s.b = s.m.Value
		s.owner = ps
		s.done = s.finish
		ps.free.put(s)
	}
	var mine []*slot // free slots the producer took from ps.free
	// One timer paces the whole loop: a new one per message would cost
	// an allocation and a heap insert at every send under --rate.
	pace := time.NewTimer(time.Hour)
	pace.Stop()
	defer pace.Stop()
	end := start.Add(w.Warmup + w.Duration)
	done := ctx.Done()
	// Ctrl-C (ctx) stops the loop, not a publish under way: one handed to
	// the driver with ctx would fail with context.Canceled while it waits
	// for window room or for its batch, instead of being drained. The
	// driver's confirm timeout still bounds it, and a second Ctrl-C exits.
	pubCtx := context.WithoutCancel(ctx)
	// start's wall-clock reading: intended times as Unix ns stay on the
	// monotonic schedule, offset once (a clock step mid-run moves the
	// receiver's readings, not the schedule).
	startWall := start.UnixNano()
loop:
	for seq := int64(0); count < 0 || seq < count; seq++ {
		var intended time.Duration
		if w.Rate > 0 {
			// Message seq of producer p is number seq*P+p of the run.
			i := seq*int64(w.Producers) + int64(p)
			intended = time.Duration(float64(i) / w.Rate * float64(time.Second))
			if d := time.Until(start.Add(intended)); d > 0 {
				pace.Reset(d)
				select {
				case <-done:
					break loop
				case <-pace.C:
				}
			}
		}
		select {
		case <-done:
			break loop
		default:
		}
		s := ps.free.next(&mine, done)
		if s == nil {
			break loop
		}
		sentAt := time.Since(start)
		if w.Rate <= 0 {
			intended = sentAt
		}
		if w.Duration > 0 && !start.Add(intended).Before(end) {
			break loop
		}
		s.warm = intended < w.Warmup
		hd := header{run: runID, producer: uint32(p), seq: uint64(seq), intended: int64(intended)}
		if w.CrossHost {
			hd.intended, hd.wall, hd.warm = startWall+int64(intended), true, s.warm
		}
		putHeader(s.b, hd)
		if !s.warm && w.Rate > 0 {
			// Without a schedule every message is sent when intended:
			// the delay is 0 and the summary leaves it out.
			delayH.record(sentAt - intended)
		}
		s.from = intended
		if !fromIntended {
			s.from = sentAt
		}
		s.seq = uint64(seq)
		c.sent.Add(1)
		lastSent = sentAt
		prod.Publish(pubCtx, s.m, s.done)
		if w.Batch > 0 && (seq+1)%int64(w.Batch) == 0 {
			flush(prod, noteErr)
		}
	}
	flush(prod, noteErr)
	return lastSent
}

// flush drains the confirms still in flight, even after an interrupt.
func flush(prod broker.Producer, noteErr func(error)) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := prod.Flush(ctx); err != nil && !errors.Is(err, context.Canceled) {
		noteErr(err)
	}
}

// waitSub waits until sub mode received --count messages, ran --duration,
// or was interrupted (true).
func waitSub(ctx context.Context, w Workload, c *counters, start time.Time) bool {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return true
		case <-t.C:
		}
		if w.Count > 0 && c.delivered.Load() >= w.Count {
			return false
		}
		if w.Duration > 0 && time.Since(start) >= w.Warmup+w.Duration {
			return false
		}
	}
}
