package consume

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/match"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

// Options control a run.
type Options struct {
	// Broker names the driver ("kafka", "rabbitmq", "nats").
	Broker string
	// Printer writes matching messages to the output; it is not used when
	// Exec handles them.
	Printer Printer
	// Exec, when set, handles each matching message; its exit status
	// decides how the message is settled.
	Exec *Exec
	// Retries is how many times a failed handler runs again, after
	// Backoff, doubling up to a minute.
	Retries int
	Backoff time.Duration
	// OnFail is what happens to a message whose handler failed every try.
	OnFail OnFail
	// Retrier parks failed messages for OnFail.Delays (nil without).
	Retrier broker.Retrier
	// DeadLetter publishes to OnFail.Dest when OnFail is dead-letter.
	DeadLetter broker.Producer
	// Filter selects the messages printed or handled; the others are
	// settled as handled.
	Filter *match.Filter
	// Peek settles nothing: the consumer was opened with Peek.
	Peek bool
	// Count stops after this many matching messages (0: no limit).
	Count int64
	// IdleTimeout stops when no message came for this long (0: wait).
	IdleTimeout time.Duration
	// Concurrency is how many handlers run at once. Kafka keeps the order
	// within a partition: a partition always goes to the same handler.
	Concurrency int
	// ShutdownTimeout bounds how long the handlers still running when ctx
	// ends may take; then they are stopped and their messages left
	// unsettled, for redelivery (0: no bound). See drain.go.
	ShutdownTimeout time.Duration
	// StopCause, when ctx ends with it as its cause (SIGTERM), makes the
	// end a normal stop rather than an interrupt.
	StopCause error
	// Observer, when set, is told of polls and handler runs (--serve).
	Observer Observer
	// Logf reports warnings and, with Verbose, each handler failure.
	Logf    func(format string, args ...any)
	Verbose bool
}

// OnFail is --on-fail: requeue, reject, dead-letter=DEST or stop, after
// the delayed retries in Delays (retry=30s,2m,...) when there are any.
type OnFail struct {
	Kind   string
	Dest   string
	Delays []time.Duration
}

// ParseOnFail parses --on-fail. retry=D1,D2,... parks a failed message
// for D1, then D2, ...; an item after the delays that is not one is the
// action after the last (retry=30s,2m,dead-letter=jobs.dlq); without one
// the broker's default applies (Kind stays "").
func ParseOnFail(s string) (OnFail, error) {
	if list, ok := strings.CutPrefix(s, "retry="); ok {
		return parseRetry(list)
	}
	return parseAction(s)
}

// maxDelays bounds retry=: each delay is a queue or topic on the broker.
const maxDelays = 20

func parseRetry(list string) (OnFail, error) {
	var delays []time.Duration
	rest := list
	for rest != "" {
		item, after, _ := strings.Cut(rest, ",")
		d, err := time.ParseDuration(item)
		if err != nil {
			if len(delays) == 0 {
				return OnFail{}, mqerr.Usagef("--on-fail retry=%s: %q is not a delay such as 30s or 2m", list, item)
			}
			break
		}
		if d < time.Millisecond || d%time.Millisecond != 0 {
			return OnFail{}, mqerr.Usagef("--on-fail retry=%s: delay %s: want a whole number of milliseconds, at least 1ms", list, item)
		}
		delays = append(delays, d)
		rest = after
	}
	if len(delays) == 0 {
		return OnFail{}, mqerr.Usagef("--on-fail retry=: give one delay or more, such as retry=30s,2m,10m")
	}
	if len(delays) > maxDelays {
		return OnFail{}, mqerr.Usagef("--on-fail retry=%s: %d delays, at most %d", list, len(delays), maxDelays)
	}
	of := OnFail{Delays: delays}
	if rest != "" {
		final, err := parseAction(rest)
		if err != nil {
			return OnFail{}, mqerr.Usagef("--on-fail retry=%s: after the delays %q: want requeue, reject, dead-letter=DEST or stop", list, rest)
		}
		of.Kind, of.Dest = final.Kind, final.Dest
	}
	return of, nil
}

// parseAction parses what happens after the last try.
func parseAction(s string) (OnFail, error) {
	if dest, ok := strings.CutPrefix(s, "dead-letter="); ok {
		if dest == "" {
			return OnFail{}, mqerr.Usagef("--on-fail dead-letter=DEST: DEST is empty")
		}
		return OnFail{Kind: "dead-letter", Dest: dest}, nil
	}
	switch s {
	case "requeue", "reject", "stop":
		return OnFail{Kind: s}, nil
	}
	return OnFail{}, mqerr.Usagef("--on-fail %q: want requeue, reject, dead-letter=DEST or stop", s)
}

// Stats count what a run did; safe for concurrent use.
type Stats struct {
	Read, Output, Filtered, Handled atomic.Int64
	// Acked counts the acks the broker keeps: none where it records no
	// settle (see note).
	Acked, Requeued, Rejected, DeadLettered atomic.Int64
	Failed, SettleErrors                    atomic.Int64
	// Delayed counts failed messages parked for a delayed retry.
	Delayed atomic.Int64
	// GivenBack counts deliveries --exec dropped unhandled because they
	// were stale before their handler started (broker.IsStale): the
	// broker took them back with what they came on and delivers them
	// again. They are neither failed nor settle errors.
	GivenBack atomic.Int64
	// NotAcked counts what was settled on a broker without
	// acknowledgement (broker.NoAcker): delivered, never acked.
	NotAcked atomic.Int64
	noAck    atomic.Bool
	// nacks counts the nacks made (Requeued those the broker took, or
	// all of them where it records none); failedNacked those of messages
	// whose handler failed, which the summary counts as failed alone.
	nacks, failedNacked atomic.Int64
	// note, when set, says that the broker records no settle
	// (broker.SettleNoter): the summary says it instead of the acks.
	note atomic.Pointer[string]
	// exec: messages were handled by --exec, not written out.
	exec atomic.Bool
	// kept: the broker cannot deliver one message again (Kafka): a nack
	// leaves it uncommitted rather than requeued.
	kept atomic.Bool
}

// Summary is the line printed on stderr at the end. With --exec each
// message read is counted once by what became of it: filtered out,
// handled, failed (with what --on-fail did to it), delayed, nacked
// without a verdict (requeued, on Kafka not committed: not started
// before a stop, or stopped by the shutdown timeout) or given back; so
// these add up to read. Acked and settle errors count settles, apart.
func (s *Stats) Summary(elapsed time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "read %d", s.Read.Load())
	if s.exec.Load() {
		fmt.Fprintf(&b, ", handled %d", s.Handled.Load())
	} else {
		fmt.Fprintf(&b, ", output %d", s.Output.Load())
	}
	if n := s.Filtered.Load(); n > 0 {
		fmt.Fprintf(&b, ", filtered out %d", n)
	}
	note := s.note.Load()
	switch {
	case s.noAck.Load():
		fmt.Fprintf(&b, ", not acknowledged %d", s.NotAcked.Load())
	case note != nil:
		b.WriteString(", " + *note)
	default:
		fmt.Fprintf(&b, ", acked %d", s.Acked.Load())
	}
	// Nacks change nothing where the broker records no settle.
	nacked := s.nacked()
	recorded := !s.noAck.Load() && note == nil
	if !recorded {
		nacked = "not handled"
	}
	failedNacked := s.failedNacked.Load()
	var onFail []string
	for _, c := range []struct {
		name string
		n    int64
	}{{"dead-lettered", s.DeadLettered.Load()}, {"rejected", s.Rejected.Load()}, {nacked, failedNacked}} {
		if c.n > 0 && recorded {
			onFail = append(onFail, fmt.Sprintf("%s %d", c.name, c.n))
		}
	}
	failed := ""
	if n := s.Failed.Load(); n > 0 {
		failed = strconv.FormatInt(n, 10)
		if len(onFail) > 0 {
			failed += " (" + strings.Join(onFail, ", ") + ")"
		}
	}
	for _, c := range []struct {
		name string
		n    string
	}{{"delayed", count(s.Delayed.Load())}, {nacked, count(s.nacks.Load() - failedNacked)}, {"failed", failed},
		{"settle errors", count(s.SettleErrors.Load())}, {"given back", count(s.GivenBack.Load())}} {
		if c.n != "" {
			fmt.Fprintf(&b, ", %s %s", c.name, c.n)
		}
	}
	secs := elapsed.Seconds()
	if secs > 0 {
		fmt.Fprintf(&b, " in %.2fs (%.0f msg/s)", secs, float64(s.Read.Load())/secs)
	}
	return b.String()
}

// count is n in text, "" when it is 0.
func count(n int64) string {
	if n <= 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

// nacked is what a nack did: "requeued", or "not committed" where the
// broker cannot deliver one message again (Kafka: the record and those
// after it in its partition come again after a restart or rebalance).
func (s *Stats) nacked() string {
	if s.kept.Load() {
		return "not committed"
	}
	return "requeued"
}

// settleTimeout bounds one settle, also after an interrupt: what was
// written must still be acked.
const settleTimeout = 30 * time.Second

// maxBatch bounds the deliveries written but not yet settled.
const maxBatch = 4096

// Run reads deliveries from c until it is exhausted, Count matching
// messages were taken, IdleTimeout passed, ctx ends or a handler with
// --on-fail stop failed. Each delivery is settled only after its message
// was written and flushed to out, or handled. Run closes c. The error is
// nil when all went well; mqerr.Partial when messages failed or an ack
// was lost (a handler finished after its channel closed: its message is
// handled again); mqerr.Interrupted when ctx ended; the consumer's error
// when it failed. Deliveries given back unhandled (Stats.GivenBack) do
// not make it Partial: no handler ran for them, and the broker has them.
func Run(ctx context.Context, c broker.Consumer, out io.Writer, st *Stats, o Options) error {
	r := &runner{c: c, st: st, o: o}
	if w, ok := o.Observer.(ConsumerWatcher); ok {
		w.Watch(c)
	}
	if na, ok := c.(broker.NoAcker); ok && na.NoAck() {
		r.noAck = true
		st.noAck.Store(true)
	}
	if sn, ok := c.(broker.SettleNoter); ok {
		if note := sn.SettleNote(); note != "" {
			st.note.Store(&note)
		}
	}
	st.exec.Store(o.Exec != nil)
	if caps, ok := broker.CapabilitiesByName(o.Broker); ok && !caps.Redelivery {
		st.kept.Store(true)
	}
	if r.o.Logf == nil {
		r.o.Logf = func(string, ...any) {}
	}
	var err error
	if o.Exec != nil {
		err = r.handleAll(ctx)
	} else {
		err = r.printAll(ctx, out)
	}
	if n := st.GivenBack.Load(); n > 0 {
		r.o.Logf("%d prefetched deliveries were given back unhandled: what they came on (channel, connection or partition) closed before their handlers started, and the broker delivers them again", n)
	}
	if cerr := c.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if ctx.Err() != nil && !r.stoppedCleanly(ctx) {
		return mqerr.Wrap(mqerr.Interrupted, errors.New("interrupted"))
	}
	if n := st.Failed.Load(); n > 0 {
		return mqerr.Wrap(mqerr.Partial, fmt.Errorf("%d messages failed handling", n))
	}
	if n := st.SettleErrors.Load(); n > 0 {
		return mqerr.Wrap(mqerr.Partial, fmt.Errorf("%d messages could not be settled; the broker will deliver them again", n))
	}
	return nil
}

type runner struct {
	c  broker.Consumer
	st *Stats
	o  Options
	// taken counts matching messages, for Count; with --exec less those
	// given back unhandled.
	taken atomic.Int64
	// noAck: the broker has no acknowledgement; settles are not sent.
	noAck bool
	// halt ends the dispatching of an --exec run with the run's error
	// (--on-fail stop); see handleAll.
	halt func(error)
	// inFlight, with --exec, is lanes.inFlight: --idle-timeout counts
	// only while nothing is in flight.
	inFlight func() (idle <-chan struct{}, since time.Time)
	// acks counts, with --exec, the messages whose handler outlasted the
	// broker's ack timeout (settleRun).
	acks ackGuard
}

// next returns the next delivery, or a nil delivery and nil error when the
// run should end normally (source exhausted, idle, interrupted).
func (r *runner) next(ctx context.Context) (*broker.Delivery, error) {
	if r.o.Count > 0 && r.taken.Load() >= r.o.Count {
		return nil, nil
	}
	// The clock is read only under --idle-timeout: a read per message
	// costs a run of a million records several percent.
	var start time.Time
	if r.o.IdleTimeout > 0 {
		start = time.Now()
	}
	for {
		wctx, cancel := ctx, context.CancelFunc(func() {})
		if r.o.IdleTimeout > 0 && r.c.Buffered() == 0 {
			wctx, cancel = r.idleContext(ctx, start)
		}
		r.polling(true)
		d, err := r.c.Next(wctx)
		r.polling(false)
		cancel()
		switch {
		case err == nil:
			r.st.Read.Add(1)
			return d, nil
		case errors.Is(err, io.EOF):
			return nil, nil
		case ctx.Err() != nil:
			return nil, nil
		case wctx.Err() != nil && r.idle(start):
			r.o.Logf("no message for %s: stopping", r.o.IdleTimeout)
			return nil, nil
		case wctx.Err() != nil:
			// Deliveries were in flight: wait on.
			continue
		}
		return nil, err
	}
}

// idleContext is the context Next waits with under --idle-timeout, for
// a delivery asked for at start: ctx, ended once nothing came since
// start and nothing was in flight (an --exec delivery waiting in a lane,
// its partition's fetching perhaps paused, or being handled) for
// IdleTimeout; or, while something is in flight, once nothing is, for
// next to ask again.
func (r *runner) idleContext(ctx context.Context, start time.Time) (context.Context, context.CancelFunc) {
	from := start
	if r.inFlight != nil {
		idle, since := r.inFlight()
		select {
		case <-idle:
			if since.After(from) {
				from = since
			}
		default:
			wctx, cancel := context.WithCancel(ctx)
			go func() {
				select {
				case <-idle:
				case <-wctx.Done():
				}
				cancel()
			}()
			return wctx, cancel
		}
	}
	return context.WithDeadline(ctx, from.Add(r.o.IdleTimeout))
}

// idle tells whether --idle-timeout passed for a delivery asked for at
// start: as idleContext describes.
func (r *runner) idle(start time.Time) bool {
	from := start
	if r.inFlight != nil {
		idle, since := r.inFlight()
		select {
		case <-idle:
		default:
			return false
		}
		if since.After(from) {
			from = since
		}
	}
	return !time.Now().Before(from.Add(r.o.IdleTimeout))
}

// match applies the filter and counts.
func (r *runner) match(d *broker.Delivery) bool {
	if !r.o.Filter.Match(&d.Message) {
		r.st.Filtered.Add(1)
		return false
	}
	r.taken.Add(1)
	return true
}

// printAll writes matching messages in batches: as many as arrived
// together, then one flush, then the acks for the whole batch.
func (r *runner) printAll(ctx context.Context, out io.Writer) error {
	w := bufio.NewWriterSize(out, 256<<10)
	if err := r.o.Printer.Begin(w); err != nil {
		return err
	}
	batch := make([]*broker.Delivery, 0, 256)
	var runErr error
	for {
		d, err := r.next(ctx)
		if err != nil {
			runErr = err
			break
		}
		if d == nil {
			break
		}
		if r.match(d) {
			if err := r.o.Printer.Print(w, &d.Message); err != nil {
				// The message was not written: it stays unsettled, and so
				// do the ones after it. What was written before is
				// flushed and acked below.
				runErr = err
				var te *TemplateError
				if errors.As(err, &te) {
					r.st.Failed.Add(1)
					runErr = mqerr.Wrap(mqerr.Partial, fmt.Errorf("%s (stopped there: that message and the ones after it are not acked)", output.TerminalSafe(te.Error())))
				}
				break
			}
			r.st.Output.Add(1)
		}
		batch = append(batch, d)
		if r.c.Buffered() == 0 || len(batch) >= maxBatch || w.Buffered() >= 192<<10 {
			if err := w.Flush(); err != nil {
				return r.outputFailed(err)
			}
			r.settleAll(ctx, batch)
			batch = batch[:0]
		}
	}
	if err := r.o.Printer.End(w); err != nil && runErr == nil {
		runErr = err
	}
	if err := w.Flush(); err != nil {
		return r.outputFailed(err)
	}
	r.settleAll(ctx, batch)
	return runErr
}

// outputFailed ends a run whose stdout broke. A closed pipe (`| head`)
// is a normal end: what was written was acked, the rest stays unsettled.
func (r *runner) outputFailed(err error) error {
	if errors.Is(err, syscall.EPIPE) {
		r.o.Logf("stdout closed: stopping; messages not written stay unacked")
		return nil
	}
	return fmt.Errorf("writing to stdout: %w", err)
}

func (r *runner) settleAll(ctx context.Context, batch []*broker.Delivery) {
	if r.noAck {
		r.st.NotAcked.Add(int64(len(batch)))
		return
	}
	if r.o.Peek || len(batch) == 0 {
		return
	}
	// One deadline for the batch: a context per delivery would cost more
	// than the settle itself on Kafka.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	for _, d := range batch {
		r.settleWith(sctx, d, broker.Settlement{Verb: broker.Ack})
	}
}

// settle settles d unless the run only peeks, counting the result. ctx
// may already be cancelled by an interrupt: the settle still happens.
func (r *runner) settle(ctx context.Context, d *broker.Delivery, s broker.Settlement) bool {
	return r.settleErr(ctx, d, s) == nil
}

// settleErr is settle, with the settle's error.
func (r *runner) settleErr(ctx context.Context, d *broker.Delivery, s broker.Settlement) error {
	var err error
	switch {
	case r.noAck:
		r.st.NotAcked.Add(1)
	case r.o.Peek:
	default:
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
		defer cancel()
		err = r.settleWith(sctx, d, s)
	}
	if err == nil && s.Verb == broker.Nack {
		r.st.nacks.Add(1)
	}
	return err
}

// settleWith settles d within sctx, counting the result.
func (r *runner) settleWith(sctx context.Context, d *broker.Delivery, s broker.Settlement) error {
	if err := d.Settler.Settle(sctx, s); err != nil {
		if r.st.SettleErrors.Add(1) <= 5 {
			r.o.Logf("%s %s: %v", s.Verb, d.Where(), err)
		}
		return err
	}
	switch s.Verb {
	case broker.Ack:
		// Not an ack where the broker keeps none (Kafka without a
		// group): Acked, and its metric, stay 0, as the summary says.
		if r.st.note.Load() == nil {
			r.st.Acked.Add(1)
		}
	case broker.Nack:
		r.st.Requeued.Add(1)
	case broker.Term:
		r.st.Rejected.Add(1)
	}
	return nil
}
