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
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	var limiter *rate.Limiter
	if o.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(o.Rate), 1)
	}
	var (
		wg       sync.WaitGroup
		failMu   sync.Mutex
		firstErr error
		stopped  atomic.Bool
		inFlight atomic.Int64
		// left are dead letters a forwarder could not forward but that
		// must not stop the run; the read loop skips them (see Skip).
		left []*broker.Delivery
	)
	settleCtx := context.WithoutCancel(ctx)
	finish := func(d *broker.Delivery, forwarded *atomic.Int64) func(error) {
		return func(err error) {
			defer wg.Done()
			defer inFlight.Add(-1)
			if errors.Is(err, ErrLeft) {
				st.Left.Add(1)
				logf("%s: %v", d.Where(), err)
				failMu.Lock()
				left = append(left, d)
				failMu.Unlock()
				return
			}
			if err == nil {
				sctx, cancel := context.WithTimeout(settleCtx, 30*time.Second)
				err = d.Settler.Settle(sctx, broker.Settlement{Verb: broker.Ack})
				cancel()
				if err != nil {
					err = fmt.Errorf("forwarded, but removing it from the source failed, so it will be forwarded again: %w", err)
				}
			}
			if err != nil {
				st.Failed.Add(1)
				stopped.Store(true)
				failMu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("%s: %w", d.Where(), err)
				}
				failMu.Unlock()
				return
			}
			forwarded.Add(1)
		}
	}

	// skipLeft settles the dead letters left in place like skipped ones,
	// on the reading goroutine.
	skipLeft := func() error {
		failMu.Lock()
		ds := left
		left = nil
		failMu.Unlock()
		for _, d := range ds {
			if err := o.Skip(settleCtx, d); err != nil {
				return fmt.Errorf("leaving %s: %w", d.Where(), err)
			}
		}
		return nil
	}

	// next waits for the next dead letter; when none comes for idleBound
	// while nothing is in flight (so no prefetch slot will free up), the
	// snapshot count cannot be reached any more and it gives up.
	next := func(ctx context.Context) (*broker.Delivery, error) {
		for {
			if c.Buffered() > 0 {
				return c.Next(ctx)
			}
			wctx, cancel := context.WithTimeout(ctx, idleBound)
			d, err := c.Next(wctx)
			cancel()
			if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
				return d, err
			}
			if inFlight.Load() == 0 {
				return nil, errIdle
			}
		}
	}

	forwardWord := fmt.Sprintf("%-7s", o.Verb) // for dry-run lines

	var readErr error
read:
	for !stopped.Load() && (o.Limit == 0 || st.Selected.Load() < o.Limit) {
		d, err := next(ctx)
		if errors.Is(err, io.EOF) || ctx.Err() != nil {
			break
		}
		if errors.Is(err, errIdle) {
			logf("no dead letter came for %s with nothing in flight: stopping before the count of the start was reached (another consumer, or expiry, took some)", idleBound)
			break
		}
		if err != nil {
			readErr = err
			break
		}
		st.Read.Add(1)
		dead, err := Inspect(ctx, o.Broker, &d.Message, o.Getter)
		if err != nil && dead.Message == nil && !mqerr.Is(err, mqerr.Usage) {
			st.Failed.Add(1)
			failMu.Lock()
			firstErr = fmt.Errorf("%s: %w", d.Where(), err)
			failMu.Unlock()
			break
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
				continue
			}
			if err := o.Skip(settleCtx, d); err != nil {
				readErr = fmt.Errorf("skipping %s: %w", d.Where(), err)
				break read
			}
			continue
		case dead.Message == nil:
			// An advisory whose message is gone, or cannot be followed.
			why := fmt.Sprintf("the message it points to, %s seq %d, was removed by the stream's limits", origin.Stream, origin.StreamSeq)
			if !dead.Gone {
				why = err.Error()
			}
			st.Left.Add(1)
			if o.DryRun {
				fmt.Fprintf(o.DryRunOut, "leave   %s: %s\n", d.Where(), why)
				continue
			}
			logf("%s: left in place: %s", d.Where(), why)
			if err := o.Skip(settleCtx, d); err != nil {
				readErr = fmt.Errorf("leaving %s: %w", d.Where(), err)
				break read
			}
			continue
		case o.MaxReplays > 0 && origin.ReplayCount >= o.MaxReplays:
			st.Selected.Add(1)
			st.OverLimit.Add(1)
			if o.Park == nil {
				if o.DryRun {
					fmt.Fprintf(o.DryRunOut, "leave   %s (replayed %d times)\n", d.Where(), origin.ReplayCount)
					continue
				}
				if err := o.Skip(settleCtx, d); err != nil {
					readErr = fmt.Errorf("leaving %s: %w", d.Where(), err)
					break read
				}
				continue
			}
			step, counter, what = o.Park, &st.Parked, "park   "
		default:
			st.Selected.Add(1)
			step, counter, what = o.Forward, &st.Forwarded, forwardWord
		}
		if o.DryRun {
			// The same checks the forward step makes, so a dead letter
			// the real run would leave is not listed as forwarded.
			if c, ok := step.(interface {
				Check(d *broker.Delivery, dead Dead) error
			}); ok {
				if err := c.Check(d, dead); errors.Is(err, ErrLeft) {
					st.Selected.Add(-1)
					st.Left.Add(1)
					fmt.Fprintf(o.DryRunOut, "leave   %s: %s\n", d.Where(), strings.TrimPrefix(err.Error(), ErrLeft.Error()+": "))
					continue
				}
			}
			counter.Add(1)
			fmt.Fprintf(o.DryRunOut, "%s %s%s\n", what, d.Where(), describeOrigin(origin))
			continue
		}
		if limiter != nil {
			if err := limiter.Wait(ctx); err != nil {
				break read
			}
		}
		wg.Add(1)
		inFlight.Add(1)
		step.Forward(ctx, d, dead, finish(d, counter))
		if err := skipLeft(); err != nil {
			readErr = err
			break
		}
	}

	fctx, cancel := context.WithTimeout(settleCtx, flushTimeout)
	defer cancel()
	var flushErr error
	for _, f := range []Forwarder{o.Forward, o.Park} {
		if f != nil {
			if err := f.Flush(fctx); err != nil && flushErr == nil {
				flushErr = err
			}
		}
	}
	wg.Wait()
	if err := skipLeft(); err != nil && readErr == nil {
		readErr = err
	}
	closeErr := c.Close()

	switch {
	case readErr != nil:
		return readErr
	case firstErr != nil:
		return mqerr.Wrap(mqerr.Partial, fmt.Errorf("stopped at the first failure, the rest stays in the source: %w", firstErr))
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
