package dlq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// Forwarder is the step a selected dead letter goes through before it is
// settled: a publish with confirm (replay, park, move, rotate) or a write
// to the export file (purge). done is called exactly once, when the step
// is confirmed or failed.
type Forwarder interface {
	Forward(ctx context.Context, d *broker.Delivery, dead Dead, done func(error))
	Flush(ctx context.Context) error
}

// Options control a Run over a dead-letter source.
type Options struct {
	// Broker is the source's broker family.
	Broker string
	// Getter follows JetStream advisories to the messages they point to
	// (see Inspect); filters and the forward step see those messages.
	Getter broker.MessageGetter
	Filter *Filter
	// Limit stops after this many selected dead letters (0: all).
	Limit int64
	// Rate forwards at most this many per second (0: unlimited).
	Rate float64
	// MaxReplays sends dead letters replayed this often already to Park
	// (or leaves them) instead of Forward (0: no limit).
	MaxReplays int
	Forward    Forwarder
	// Park receives dead letters over MaxReplays; nil leaves them where
	// they are.
	Park Forwarder
	// Skip settles a dead letter the filter did not select so the run can
	// go past it while it stays in the source (see SkipFor).
	Skip func(ctx context.Context, d *broker.Delivery) error
	// DryRun settles and forwards nothing; DryRunOut gets one line per
	// dead letter saying what would happen.
	DryRun    bool
	DryRunOut io.Writer
	// Verb names the forward step in dry-run lines ("replay", "purge").
	Verb string
	Logf func(format string, args ...any)
}

// MoveStats count what a Run did; safe for concurrent use.
type MoveStats struct {
	Read, Selected, Forwarded, Skipped, Parked, OverLimit, Left, Failed atomic.Int64
	// Duplicates are forwarded messages a JetStream stream had stored
	// already (see Publisher.Duplicates).
	Duplicates atomic.Int64
	// Purged is what the broker's own purge deleted (PurgeJob: all of
	// the source, or up to what it read); a purge that deletes dead
	// letters one by one counts them in Forwarded.
	Purged atomic.Int64
	// To counts, in a dry run, the dead letters to forward by where they
	// would go (see Publisher.Routes).
	To Routes
}

// Routes counts dead letters by the destination they are sent to; safe
// for concurrent use. The zero value is ready.
type Routes struct {
	mu sync.Mutex
	n  map[string]int64
}

func (r *Routes) add(dest string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[string]int64{}
	}
	r.n[dest]++
}

// Counts returns a copy of the counts.
func (r *Routes) Counts() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int64, len(r.n))
	for d, n := range r.n {
		out[d] = n
	}
	return out
}

// Summary is the line printed at the end; verb names the forward step
// ("replayed", "moved", "purged").
func (s *MoveStats) Summary(verb string, elapsed time.Duration) string {
	out := fmt.Sprintf("read %d, %s %d", s.Read.Load(), verb, s.Forwarded.Load())
	if n := s.Duplicates.Load(); n > 0 {
		out += fmt.Sprintf(" (%d of them sent by an earlier run already: the stream kept one copy)", n)
	}
	out += fmt.Sprintf(", skipped %d", s.Skipped.Load())
	if n := s.OverLimit.Load(); n > 0 {
		out += fmt.Sprintf(", over --max-replays %d (parked %d)", n, s.Parked.Load())
	}
	if n := s.Left.Load(); n > 0 {
		out += fmt.Sprintf(", left in place %d", n)
	}
	out += fmt.Sprintf(", failed %d", s.Failed.Load())
	if secs := elapsed.Seconds(); secs > 0 {
		out += fmt.Sprintf(" in %.2fs (%.0f msg/s)", secs, float64(s.Forwarded.Load())/secs)
	}
	return out
}

// ErrLeft is in the error chain of a Forwarder that cannot forward one
// dead letter but should not stop the run: the message a JetStream
// advisory points to is gone, or the dead letter does not say where it
// came from. It is counted and left where it is.
var ErrLeft = errors.New("left in place")

// idleBound is how long Run waits for a dead letter with nothing in
// flight before it decides the source will not deliver its start count.
var idleBound = 10 * time.Second

var errIdle = errors.New("idle")

// flushTimeout bounds the wait for outstanding confirms at the end.
const flushTimeout = 60 * time.Second

// Run moves the selected dead letters of c through o.Forward and settles
// each one (ack, commit or delete) only after its forward step was
// confirmed. It reads only what existed at the start (the consumer was
// opened with UntilEnd), so dead letters that come back meanwhile are not
// read again: no loop. At the first failed forward it stops reading, waits
// for what is in flight and returns an mqerr.Partial error; the failed
// dead letter and every one not read stay in the source. Run closes c.
func Run(ctx context.Context, c broker.Consumer, st *MoveStats, o Options) error {
	r := &mover{c: c, st: st, o: o, logf: o.Logf, settleCtx: context.WithoutCancel(ctx),
		forwardWord: fmt.Sprintf("%-7s", o.Verb)}
	if r.logf == nil {
		r.logf = func(string, ...any) {}
	}
	if o.Rate > 0 {
		r.limiter = rate.NewLimiter(rate.Limit(o.Rate), 1)
	}
	r.read(ctx)
	return r.end(ctx)
}

// mover is one Run: the reading goroutine (read, handle) starts forward
// steps, whose done callbacks (settle) come on the forwarders' goroutines.
type mover struct {
	c           broker.Consumer
	st          *MoveStats
	o           Options
	logf        func(format string, args ...any)
	limiter     *rate.Limiter // nil: no --rate
	settleCtx   context.Context
	forwardWord string // the verb padded, for dry-run lines

	wg       sync.WaitGroup // forward steps not done
	inFlight atomic.Int64
	stopped  atomic.Bool // a forward step failed: read no more

	mu       sync.Mutex
	firstErr error
	// left are dead letters a forwarder could not forward but that must
	// not stop the run; the reading goroutine skips them (see Skip).
	left []*broker.Delivery

	readErr error // the reading goroutine's own
}

// settle is the done callback of d's forward step: it settles d in the
// source once the step is confirmed and counts the outcome in forwarded.
func (r *mover) settle(d *broker.Delivery, forwarded *atomic.Int64) func(error) {
	return func(err error) {
		defer r.wg.Done()
		defer r.inFlight.Add(-1)
		if errors.Is(err, ErrLeft) {
			r.st.Left.Add(1)
			r.logf("%s: %v", d.Where(), err)
			r.mu.Lock()
			r.left = append(r.left, d)
			r.mu.Unlock()
			return
		}
		if err == nil {
			sctx, cancel := context.WithTimeout(r.settleCtx, 30*time.Second)
			err = d.Settler.Settle(sctx, broker.Settlement{Verb: broker.Ack})
			cancel()
			if err != nil {
				err = fmt.Errorf("forwarded, but removing it from the source failed, so it will be forwarded again: %w", err)
			}
		}
		if err != nil {
			r.st.Failed.Add(1)
			r.stopped.Store(true)
			r.mu.Lock()
			if r.firstErr == nil {
				r.firstErr = fmt.Errorf("%s: %w", d.Where(), err)
			}
			r.mu.Unlock()
			return
		}
		forwarded.Add(1)
	}
}

// skipLeft settles the dead letters left in place like skipped ones, on
// the reading goroutine.
func (r *mover) skipLeft() error {
	r.mu.Lock()
	ds := r.left
	r.left = nil
	r.mu.Unlock()
	for _, d := range ds {
		if err := r.o.Skip(r.settleCtx, d); err != nil {
			return fmt.Errorf("leaving %s: %w", d.Where(), err)
		}
	}
	return nil
}

// next waits for the next dead letter; when none comes for idleBound
// while nothing is in flight (so no prefetch slot will free up), the
// snapshot count cannot be reached any more and it gives up.
func (r *mover) next(ctx context.Context) (*broker.Delivery, error) {
	for {
		if r.c.Buffered() > 0 {
			return r.c.Next(ctx)
		}
		wctx, cancel := context.WithTimeout(ctx, idleBound)
		d, err := r.c.Next(wctx)
		cancel()
		if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return d, err
		}
		if r.inFlight.Load() == 0 {
			return nil, errIdle
		}
	}
}

// read takes dead letters until the source, the limit or a failure ends
// the run; a reading error is left in r.readErr.
func (r *mover) read(ctx context.Context) {
	for !r.stopped.Load() && (r.o.Limit == 0 || r.st.Selected.Load() < r.o.Limit) {
		d, err := r.next(ctx)
		if errors.Is(err, io.EOF) || ctx.Err() != nil {
			return
		}
		if errors.Is(err, errIdle) {
			r.logf("no dead letter came for %s with nothing in flight: stopping before the count of the start was reached (another consumer, or expiry, took some)", idleBound)
			return
		}
		if err != nil {
			r.readErr = err
			return
		}
		if !r.handle(ctx, d) {
			return
		}
	}
}

// handle decides what happens to one dead letter (skip, leave, park or
// forward; in a dry run it only says so) and starts its forward step. It
// reports whether reading goes on.
func (r *mover) handle(ctx context.Context, d *broker.Delivery) bool {
	st, o := r.st, r.o
	st.Read.Add(1)
	dead, err := Inspect(ctx, o.Broker, &d.Message, o.Getter)
	if err != nil && dead.Message == nil && !mqerr.Is(err, mqerr.Usage) {
		st.Failed.Add(1)
		r.mu.Lock()
		r.firstErr = fmt.Errorf("%s: %w", d.Where(), err)
		r.mu.Unlock()
		return false
	}
	origin := dead.Origin
	var step Forwarder
	var counter *atomic.Int64
	what := ""
	switch {
	case !o.Filter.Match(dead.Message, origin):
		st.Skipped.Add(1)
		if o.DryRun {
			fmt.Fprintf(o.DryRunOut, "skip    %s\n", d.Where())
			return true
		}
		if err := o.Skip(r.settleCtx, d); err != nil {
			r.readErr = fmt.Errorf("skipping %s: %w", d.Where(), err)
			return false
		}
		return true
	case dead.Message == nil:
		// An advisory whose message is gone, or cannot be followed.
		why := fmt.Sprintf("the message it points to, %s seq %d, was removed by the stream's limits", origin.Stream, origin.StreamSeq)
		if !dead.Gone {
			why = err.Error()
		}
		st.Left.Add(1)
		if o.DryRun {
			fmt.Fprintf(o.DryRunOut, "leave   %s: %s\n", d.Where(), why)
			return true
		}
		r.logf("%s: left in place: %s", d.Where(), why)
		if err := o.Skip(r.settleCtx, d); err != nil {
			r.readErr = fmt.Errorf("leaving %s: %w", d.Where(), err)
			return false
		}
		return true
	case o.MaxReplays > 0 && origin.ReplayCount >= o.MaxReplays:
		st.Selected.Add(1)
		st.OverLimit.Add(1)
		if o.Park == nil {
			if o.DryRun {
				fmt.Fprintf(o.DryRunOut, "leave   %s (replayed %d times)\n", d.Where(), origin.ReplayCount)
				return true
			}
			if err := o.Skip(r.settleCtx, d); err != nil {
				r.readErr = fmt.Errorf("leaving %s: %w", d.Where(), err)
				return false
			}
			return true
		}
		step, counter, what = o.Park, &st.Parked, "park   "
	default:
		st.Selected.Add(1)
		step, counter, what = o.Forward, &st.Forwarded, r.forwardWord
	}
	if o.DryRun {
		// The same checks the forward step makes, so a dead letter the
		// real run would leave is not listed as forwarded.
		if c, ok := step.(interface {
			Check(d *broker.Delivery, dead Dead) error
		}); ok {
			if err := c.Check(d, dead); errors.Is(err, ErrLeft) {
				st.Selected.Add(-1)
				st.Left.Add(1)
				fmt.Fprintf(o.DryRunOut, "leave   %s: %s\n", d.Where(), strings.TrimPrefix(err.Error(), ErrLeft.Error()+": "))
				return true
			}
		}
		counter.Add(1)
		fmt.Fprintf(o.DryRunOut, "%s %s%s\n", what, d.Where(), describeOrigin(origin))
		return true
	}
	if r.limiter != nil {
		if err := r.limiter.Wait(ctx); err != nil {
			return false
		}
	}
	r.wg.Add(1)
	r.inFlight.Add(1)
	step.Forward(ctx, d, dead, r.settle(d, counter))
	if err := r.skipLeft(); err != nil {
		r.readErr = err
		return false
	}
	return true
}

// end waits for the forward steps in flight, settles what they left,
// closes the source and gives the run's outcome: a reading error first,
// then the first failed forward, a failed flush, the close, an interrupt.
func (r *mover) end(ctx context.Context) error {
	fctx, cancel := context.WithTimeout(r.settleCtx, flushTimeout)
	defer cancel()
	var flushErr error
	for _, f := range []Forwarder{r.o.Forward, r.o.Park} {
		if f != nil {
			if err := f.Flush(fctx); err != nil && flushErr == nil {
				flushErr = err
			}
		}
	}
	r.wg.Wait()
	if err := r.skipLeft(); err != nil && r.readErr == nil {
		r.readErr = err
	}
	closeErr := r.c.Close()

	switch {
	case r.readErr != nil:
		return r.readErr
	case r.firstErr != nil:
		return mqerr.Wrap(mqerr.Partial, fmt.Errorf("stopped at the first failure, the rest stays in the source: %w", r.firstErr))
	case flushErr != nil:
		return mqerr.Wrap(mqerr.Partial, flushErr)
	case closeErr != nil:
		return closeErr
	case ctx.Err() != nil:
		return mqerr.Wrap(mqerr.Interrupted, errors.New("interrupted"))
	}
	return nil
}

func describeOrigin(o Origin) string {
	s := ""
	if o.Destination != "" {
		s += " from " + o.Destination
	} else if o.Stream != "" {
		s += fmt.Sprintf(" from %s seq %d", o.Stream, o.StreamSeq)
	}
	if o.Reason != "" {
		s += " (" + OneLine(o.Reason, 120) + ")"
	}
	if o.ReplayCount > 0 {
		s += " replayed " + strconv.Itoa(o.ReplayCount) + "x"
	}
	return s
}
