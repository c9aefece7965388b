package consume

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/dlq"
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

// OnFail is --on-fail: requeue, reject, dead-letter=DEST or stop.
type OnFail struct {
	Kind string
	Dest string
}

// ParseOnFail parses --on-fail.
func ParseOnFail(s string) (OnFail, error) {
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
	Read, Output, Filtered, Handled         atomic.Int64
	Acked, Requeued, Rejected, DeadLettered atomic.Int64
	Failed, SettleErrors                    atomic.Int64
	// NotAcked counts what was settled on a broker without
	// acknowledgement (broker.NoAcker): delivered, never acked.
	NotAcked atomic.Int64
	noAck    atomic.Bool
}

// Summary is the line printed on stderr at the end.
func (s *Stats) Summary(elapsed time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "read %d", s.Read.Load())
	if n := s.Output.Load(); n > 0 || s.Handled.Load() == 0 {
		fmt.Fprintf(&b, ", output %d", n)
	}
	if n := s.Handled.Load(); n > 0 {
		fmt.Fprintf(&b, ", handled %d", n)
	}
	if n := s.Filtered.Load(); n > 0 {
		fmt.Fprintf(&b, ", filtered out %d", n)
	}
	if s.noAck.Load() {
		fmt.Fprintf(&b, ", not acknowledged %d", s.NotAcked.Load())
	} else {
		fmt.Fprintf(&b, ", acked %d", s.Acked.Load())
	}
	for _, c := range []struct {
		name string
		n    int64
	}{{"requeued", s.Requeued.Load()}, {"rejected", s.Rejected.Load()}, {"dead-lettered", s.DeadLettered.Load()}, {"failed", s.Failed.Load()}, {"settle errors", s.SettleErrors.Load()}} {
		if c.n > 0 {
			fmt.Fprintf(&b, ", %s %d", c.name, c.n)
		}
	}
	secs := elapsed.Seconds()
	if secs > 0 {
		fmt.Fprintf(&b, " in %.2fs (%.0f msg/s)", secs, float64(s.Read.Load())/secs)
	}
	return b.String()
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
// nil when all went well; mqerr.Partial when messages failed; mqerr.Interrupted
// when ctx ended; the consumer's error when it failed.
func Run(ctx context.Context, c broker.Consumer, out io.Writer, st *Stats, o Options) error {
	r := &runner{c: c, st: st, o: o}
	if w, ok := o.Observer.(ConsumerWatcher); ok {
		w.Watch(c)
	}
	if na, ok := c.(broker.NoAcker); ok && na.NoAck() {
		r.noAck = true
		st.noAck.Store(true)
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
	// taken counts matching messages, for Count.
	taken int64
	// noAck: the broker has no acknowledgement; settles are not sent.
	noAck bool
}

// next returns the next delivery, or a nil delivery and nil error when the
// run should end normally (source exhausted, idle, interrupted).
func (r *runner) next(ctx context.Context) (*broker.Delivery, error) {
	if r.o.Count > 0 && r.taken >= r.o.Count {
		return nil, nil
	}
	wctx := ctx
	if r.o.IdleTimeout > 0 && r.c.Buffered() == 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, r.o.IdleTimeout)
		defer cancel()
	}
	r.polling(true)
	d, err := r.c.Next(wctx)
	r.polling(false)
	switch {
	case err == nil:
		r.st.Read.Add(1)
		return d, nil
	case errors.Is(err, io.EOF):
		return nil, nil
	case ctx.Err() != nil:
		return nil, nil
	case wctx.Err() != nil:
		r.o.Logf("no message for %s: stopping", r.o.IdleTimeout)
		return nil, nil
	}
	return nil, err
}

// match applies the filter and counts.
func (r *runner) match(d *broker.Delivery) bool {
	if !r.o.Filter.Match(&d.Message) {
		r.st.Filtered.Add(1)
		return false
	}
	r.taken++
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
	if r.noAck {
		r.st.NotAcked.Add(1)
		return true
	}
	if r.o.Peek {
		return true
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	return r.settleWith(sctx, d, s)
}

// settleWith settles d within sctx, counting the result.
func (r *runner) settleWith(sctx context.Context, d *broker.Delivery, s broker.Settlement) bool {
	if err := d.Settler.Settle(sctx, s); err != nil {
		if r.st.SettleErrors.Add(1) <= 5 {
			r.o.Logf("%s %s: %v", s.Verb, d.Where(), err)
		}
		return false
	}
	switch s.Verb {
	case broker.Ack:
		r.st.Acked.Add(1)
	case broker.Nack:
		r.st.Requeued.Add(1)
	case broker.Term:
		r.st.Rejected.Add(1)
	}
	return true
}

// handleAll dispatches matching messages to Concurrency handlers. Kafka
// records go to the handler of their partition, so each partition is
// handled in order; other brokers share one queue.
func (r *runner) handleAll(ctx context.Context) error {
	n := max(1, r.o.Concurrency)
	queues := make([]chan *broker.Delivery, 1)
	if caps, _ := broker.CapabilitiesByName(r.o.Broker); caps.PartitionOrder {
		queues = make([]chan *broker.Delivery, n)
	}
	for i := range queues {
		queues[i] = make(chan *broker.Delivery, 1)
	}
	// stop ends dispatching when a handler says --on-fail stop.
	dctx, stop := context.WithCancel(ctx)
	defer stop()
	var stopErr error
	var stopOnce sync.Once
	var wg sync.WaitGroup
	dr := r.startDrain(ctx)
	defer dr.end()
	for i := range n {
		q := queues[i%len(queues)]
		wg.Go(func() {
			for d := range q {
				if ctx.Err() != nil {
					// Not started before the stop: it goes back.
					r.settle(ctx, d, broker.Settlement{Verb: broker.Nack})
					continue
				}
				if err := r.handle(ctx, dr, d); err != nil {
					stopOnce.Do(func() { stopErr = err; stop() })
				}
			}
		})
	}
	var runErr error
	for {
		d, err := r.next(dctx)
		if err != nil {
			runErr = err
			break
		}
		if d == nil {
			break
		}
		if !r.match(d) {
			r.settle(ctx, d, broker.Settlement{Verb: broker.Ack})
			continue
		}
		q := queues[0]
		if len(queues) > 1 {
			q = queues[int(d.Kafka.Partition)%len(queues)]
		}
		select {
		case q <- d:
		case <-dctx.Done():
			// Not handed to a handler: it goes back.
			r.settle(ctx, d, broker.Settlement{Verb: broker.Nack})
		}
	}
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	if stopErr != nil {
		return stopErr
	}
	return runErr
}

// handle runs the handler for d with retries and settles d by the
// outcome. It returns an error only to stop the run (--on-fail stop).
func (r *runner) handle(ctx context.Context, dr *drain, d *broker.Delivery) error {
	// Handlers finish after an interrupt, within the shutdown timeout: the
	// interrupt stops reading, and a second Ctrl-C kills mqctl, leaving d
	// unsettled for redelivery.
	var reason error
	for attempt := 1; ; attempt++ {
		reason = r.runAttempt(dr, attempt, func(hctx context.Context) error { return r.runWithProgress(hctx, d, attempt) })
		if reason != nil && dr.stopped() {
			// Stopped at the shutdown timeout: no verdict, d goes back.
			r.settle(ctx, d, broker.Settlement{Verb: broker.Nack})
			return nil
		}
		if reason == nil {
			r.st.Handled.Add(1)
			r.settle(ctx, d, broker.Settlement{Verb: broker.Ack})
			return nil
		}
		if r.o.Verbose || attempt > r.o.Retries {
			r.o.Logf("handler failed for %s (attempt %d): %v", d.Where(), attempt, reason)
		}
		if attempt > r.o.Retries || ctx.Err() != nil {
			break
		}
		select {
		case <-time.After(backoff(r.o.Backoff, attempt)):
		case <-ctx.Done():
		}
	}
	if ctx.Err() != nil {
		// Interrupted before the retries were used up: not a verdict on
		// the message, so it goes back rather than to --on-fail.
		r.settle(ctx, d, broker.Settlement{Verb: broker.Nack})
		return nil
	}
	r.st.Failed.Add(1)
	switch r.o.OnFail.Kind {
	case "reject":
		r.settle(ctx, d, broker.Settlement{Verb: broker.Term})
	case "dead-letter":
		r.deadLetter(ctx, d, reason)
	case "stop":
		// Described before settling: a settled delivery is the driver's again.
		err := mqerr.Wrap(mqerr.Partial, fmt.Errorf("stopped: the handler failed for %s: %v", d.Where(), reason))
		r.settle(ctx, d, broker.Settlement{Verb: broker.Nack})
		return err
	default:
		r.settle(ctx, d, broker.Settlement{Verb: broker.Nack, Delay: r.o.Backoff})
	}
	return nil
}

// runWithProgress runs the handler and, on JetStream, tells the server
// every 10 s that the message is still being worked on, so a slow handler
// does not get it redelivered to someone else meanwhile.
func (r *runner) runWithProgress(ctx context.Context, d *broker.Delivery, attempt int) error {
	if caps, _ := broker.CapabilitiesByName(r.o.Broker); !caps.InProgressAck || r.o.Peek {
		return r.o.Exec.Run(ctx, &d.Message, attempt)
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				d.Settler.Settle(sctx, broker.Settlement{Verb: broker.InProgress})
				cancel()
			}
		}
	}()
	defer close(done)
	return r.o.Exec.Run(ctx, &d.Message, attempt)
}

// deadLetter publishes d to the dead-letter destination and acks d only
// after the broker confirmed that copy; when the publish fails d is
// requeued instead, so it is never lost.
func (r *runner) deadLetter(ctx context.Context, d *broker.Delivery, reason error) {
	attempts := r.o.Retries + 1
	m := dlq.DeadLetter(r.o.Broker, &d.Message, dlq.Death{Reason: reason.Error(), Time: time.Now(), Count: attempts})
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	done := make(chan error, 1)
	r.o.DeadLetter.Publish(pctx, m, func(_ broker.Receipt, err error) { done <- err })
	if err := <-done; err != nil {
		r.o.Logf("dead-lettering %s to %s failed, requeued instead: %v", d.Where(), r.o.OnFail.Dest, err)
		r.settle(ctx, d, broker.Settlement{Verb: broker.Nack})
		return
	}
	r.st.DeadLettered.Add(1)
	r.settle(ctx, d, broker.Settlement{Verb: broker.Ack})
}

// backoff is base doubled per attempt, at most a minute.
func backoff(base time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < time.Minute; i++ {
		d *= 2
	}
	return min(d, time.Minute)
}
