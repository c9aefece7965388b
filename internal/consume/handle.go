package consume

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/dlq"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// handleAll dispatches matching messages to Concurrency handlers through
// lanes: Kafka records in order per partition, and a slow partition
// holds up no other; other brokers share one lane.
func (r *runner) handleAll(ctx context.Context) error {
	n := max(1, r.o.Concurrency)
	caps, _ := broker.CapabilitiesByName(r.o.Broker)
	ls := newLanes(caps.PartitionOrder, r.c)
	r.inFlight = ls.inFlight
	// dctx ends dispatching: at an interrupt, or when a handler says
	// --on-fail stop (r.halt).
	dctx, stop := context.WithCancel(ctx)
	defer stop()
	defer ls.wakeOn(dctx)()
	var stopErr error
	var stopOnce sync.Once
	r.halt = func(err error) { stopOnce.Do(func() { stopErr = err; stop() }) }
	var wg sync.WaitGroup
	dr := r.startDrain(ctx)
	defer dr.end()
	// released is closed once the dispatching ended, and the consumer
	// stopped fetching when it ended by a stop.
	released := make(chan struct{})
	for range n {
		wg.Go(func() {
			for {
				d, done, ok := ls.take()
				if !ok {
					return
				}
				switch {
				case dctx.Err() != nil:
					// Not started before the stop (an interrupt, or a
					// handler's --on-fail stop): it goes back, once the
					// consumer no longer fetches, so not to this one.
					<-released
					r.giveBack(ctx, d)
				case r.givenBack(d):
					// Not handled: with -n another takes its place.
					r.taken.Add(-1)
				default:
					r.handle(ctx, dr, d)
				}
				done()
			}
		})
	}
	var runErr error
	var unsent *broker.Delivery
	for dctx.Err() == nil {
		if r.o.Count > 0 && r.taken.Load() >= r.o.Count &&
			ls.waitTaken(dctx, func() bool { return r.taken.Load() >= r.o.Count }) {
			break
		}
		d, err := r.next(dctx)
		if err != nil {
			runErr = err
			break
		}
		if d == nil {
			break
		}
		if r.givenBack(d) {
			continue
		}
		if !r.match(d) {
			r.settle(ctx, d, broker.Settlement{Verb: broker.Ack})
			continue
		}
		if !ls.put(dctx, d) {
			// Not handed to a handler: it goes back.
			unsent = d
			break
		}
	}
	// Stopped by an interrupt or by --on-fail stop: the handlers running
	// finish, and nothing else starts.
	stopped := dctx.Err() != nil
	if stopped {
		r.stopFetching(ctx)
	}
	close(released)
	if unsent != nil {
		r.giveBack(ctx, unsent)
	}
	if stopped {
		// What waits for a busy handler goes back now, not when that
		// handler is done.
		for _, d := range ls.drain() {
			r.giveBack(ctx, d)
		}
	}
	ls.close()
	wg.Wait()
	if stopErr != nil {
		return stopErr
	}
	return runErr
}

// givenBack drops d when it is stale before its handler starts
// (broker.IsStale): what it came on closed (a RabbitMQ channel closed by
// consumer_timeout, a lost connection, a revoked Kafka partition) and the
// broker delivers it again, so a handler would only do the work twice and
// then fail to ack it. Checked where the dispatcher reads d and again
// where a handler takes it, as d may wait behind a slow handler while the
// channel closes. A handler already running is left to finish. Run says
// how many at the end (each one with -v).
func (r *runner) givenBack(d *broker.Delivery) bool {
	if !broker.IsStale(d) {
		return false
	}
	r.st.GivenBack.Add(1)
	if r.o.Verbose {
		r.o.Logf("%s: given back unhandled: %v", d.Where(), broker.ErrStaleDelivery)
	}
	return true
}

// giveBack returns d, not handled, to the broker: a nack, unless the
// broker has it back already (stale: a RabbitMQ channel closed by
// consumer_timeout, say), which a nack could not reach.
func (r *runner) giveBack(ctx context.Context, d *broker.Delivery) {
	if !r.givenBack(d) {
		r.settle(ctx, d, broker.Settlement{Verb: broker.Nack})
	}
}

// stopFetching tells a consumer that fetches ahead (JetStream, RabbitMQ's
// prefetch) to stop
// and give back what it holds, once the run was told to stop: other
// consumers get those messages while the handlers still running finish.
func (r *runner) stopFetching(ctx context.Context) {
	fs, ok := r.c.(broker.FetchStopper)
	if !ok || r.o.Peek || r.noAck {
		return
	}
	// Within the shutdown timeout too: a broker that does not answer the
	// stop must not outlast the grace period an orchestrator gives.
	timeout := settleTimeout
	if t := r.o.ShutdownTimeout; t > 0 && t < timeout {
		timeout = t
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	fs.StopFetching(sctx)
}

// handle runs the handler for d with retries and settles d by the
// outcome.
func (r *runner) handle(ctx context.Context, dr *drain, d *broker.Delivery) {
	if r.o.Retrier != nil {
		r.handleDelayed(ctx, dr, d)
		return
	}
	// Handlers finish after an interrupt, within the shutdown timeout: the
	// interrupt stops reading, and a second Ctrl-C kills mqctl, leaving d
	// unsettled for redelivery.
	var reason error
	for attempt := 1; ; attempt++ {
		reason = r.runAttempt(dr, attempt, func(hctx context.Context) error { return r.runWithProgress(hctx, d, attempt) })
		if reason != nil && dr.stopped() {
			// Stopped at the shutdown timeout: no verdict, d goes back.
			r.settleRun(ctx, d, broker.Settlement{Verb: broker.Nack})
			return
		}
		if reason == nil {
			r.st.Handled.Add(1)
			r.settleRun(ctx, d, broker.Settlement{Verb: broker.Ack})
			return
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
		r.settleRun(ctx, d, broker.Settlement{Verb: broker.Nack})
		return
	}
	r.fail(ctx, d, reason, r.o.Retries+1)
}

// fail settles d, whose handler failed attempts times, by --on-fail.
func (r *runner) fail(ctx context.Context, d *broker.Delivery, reason error, attempts int) {
	r.st.Failed.Add(1)
	switch r.o.OnFail.Kind {
	case "reject":
		r.settleRun(ctx, d, broker.Settlement{Verb: broker.Term})
	case "dead-letter":
		r.deadLetter(ctx, d, reason, attempts)
	case "stop":
		// Described before settling: a settled delivery is the driver's
		// again. Stopped before settling too, so that nothing more starts,
		// not even d coming back at once from a requeue.
		r.halt(mqerr.Wrap(mqerr.Partial, fmt.Errorf("stopped: the handler failed for %s: %v", d.Where(), reason)))
		r.nackFailed(ctx, d, broker.Settlement{Verb: broker.Nack})
	default:
		r.nackFailed(ctx, d, broker.Settlement{Verb: broker.Nack, Delay: r.o.Backoff})
	}
}

// nackFailed nacks d, whose handler failed, counting it among the failed
// messages nacked: the summary counts it once, as failed.
func (r *runner) nackFailed(ctx context.Context, d *broker.Delivery, s broker.Settlement) {
	if r.settleRun(ctx, d, s) {
		r.st.failedNacked.Add(1)
	}
}

// handleDelayed runs the handler once for d, as the attempt the broker
// says it is, and on failure parks d in the broker for the attempt's
// delay (--on-fail retry=...), which acks d only once the broker holds
// it, so this handler goes on with other messages meanwhile. After the
// last delay --on-fail's final action applies.
func (r *runner) handleDelayed(ctx context.Context, dr *drain, d *broker.Delivery) {
	attempt := r.o.Retrier.Attempt(&d.Message)
	reason := r.runAttempt(dr, attempt, func(hctx context.Context) error { return r.runWithProgress(hctx, d, attempt) })
	switch {
	case reason != nil && dr.stopped():
		r.settleRun(ctx, d, broker.Settlement{Verb: broker.Nack})
		return
	case reason == nil:
		r.st.Handled.Add(1)
		r.settleRun(ctx, d, broker.Settlement{Verb: broker.Ack})
		return
	}
	i := attempt - 1
	if i >= len(r.o.OnFail.Delays) {
		r.o.Logf("handler failed for %s (attempt %d, the last): %v", d.Where(), attempt, reason)
		r.fail(ctx, d, reason, attempt)
		return
	}
	if r.o.Verbose {
		r.o.Logf("handler failed for %s (attempt %d): %v; retrying in %s", d.Where(), attempt, reason, r.o.OnFail.Delays[i])
	}
	if r.takenBack(ctx, d, "parked for a retry") {
		return
	}
	// Parked even after an interrupt: the handler's verdict is in.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	if err := r.o.Retrier.Retry(pctx, d, i, attempt+1); err != nil {
		if errors.Is(err, broker.ErrStaleDelivery) {
			// d's own settle failed: the broker took d back after the
			// check above. A nack would fail too (settled already) and
			// hide an ack timeout from the count.
			if r.st.SettleErrors.Add(1) <= 5 {
				r.o.Logf("%v; %s comes again, beside any copy parked for its retry", err, d.Where())
			}
			r.countAckTimeout(d, err)
			return
		}
		r.o.Logf("%v; %s instead", err, r.st.nacked())
		r.settleRun(ctx, d, broker.Settlement{Verb: broker.Nack})
		return
	}
	r.st.Delayed.Add(1)
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
// nacked instead (Kafka: left uncommitted), so it is never lost.
func (r *runner) deadLetter(ctx context.Context, d *broker.Delivery, reason error, attempts int) {
	if r.takenBack(ctx, d, "dead-lettered to "+r.o.OnFail.Dest) {
		return
	}
	m := dlq.DeadLetter(r.o.Broker, &d.Message, dlq.Death{Reason: reason.Error(), Time: time.Now(), Count: attempts})
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	done := make(chan error, 1)
	r.o.DeadLetter.Publish(pctx, m, func(_ broker.Receipt, err error) { done <- err })
	if err := <-done; err != nil {
		r.o.Logf("dead-lettering %s to %s failed, %s instead: %v", d.Where(), r.o.OnFail.Dest, r.st.nacked(), err)
		r.nackFailed(ctx, d, broker.Settlement{Verb: broker.Nack})
		return
	}
	r.st.DeadLettered.Add(1)
	r.settleRun(ctx, d, broker.Settlement{Verb: broker.Ack})
}

// takenBack skips the copy that --on-fail would publish of d (what says
// which) when the broker has d back already (broker.IsStale: a RabbitMQ
// channel closed by consumer_timeout): d comes again, so the copy would
// be a duplicate. d is then settled as any delivery whose handler
// outlasted the broker's ack timeout: the settle fails, and settleRun
// counts it towards the stop. A nack, not the ack that follows a copy:
// should the broker still hold d after all, d goes back, not lost.
// A broker that takes d back after this check, while the copy is being
// published, leaves both: the help and README say so.
func (r *runner) takenBack(ctx context.Context, d *broker.Delivery, what string) bool {
	if !broker.IsStale(d) {
		return false
	}
	r.o.Logf("%s: not %s, as the broker took it back (it comes again)", d.Where(), what)
	r.nackFailed(ctx, d, broker.Settlement{Verb: broker.Nack})
	return true
}

// backoff is base doubled per attempt, at most a minute.
func backoff(base time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < time.Minute; i++ {
		d *= 2
	}
	return min(d, time.Minute)
}
