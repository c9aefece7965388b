package produce

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/envelope"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

// Options control a run.
type Options struct {
	// Broker names the driver ("kafka", "rabbitmq", "nats") for envelopes.
	Broker string
	// Prepare fills in what flags say (key, headers, properties, msg-id)
	// before a message is published; it may reject a message.
	Prepare func(*Record) error
	// Rate limits publishing to this many messages per second; 0 is unlimited.
	Rate float64
	// SkipInvalid reports invalid jsonl lines and goes on instead of stopping.
	SkipInvalid bool
	// FlushTimeout bounds the wait for outstanding confirms at the end,
	// also after an interrupt.
	FlushTimeout time.Duration
	// FailedOut receives every failed message as a jsonl envelope with an
	// "error" field; nil discards them (they are still counted and reported).
	FailedOut io.Writer
	// Log receives per-message results when Verbose, and invalid lines.
	Log     io.Writer
	Verbose bool
	// Scrub removes secrets from error texts before they are printed or
	// written to FailedOut; nil leaves them as they are.
	Scrub func(string) string
}

// Run publishes every record of src through p and returns when each one was
// confirmed or failed; it closes p. The error is nil when all were confirmed; an
// mqerr.Partial error when some failed; an mqerr.Interrupted error when ctx
// ended first (what was read is still accounted for); a usage error for an
// invalid line without SkipInvalid, or with it when every line was invalid.
func Run(ctx context.Context, p broker.Producer, src Reader, st *Stats, o Options) error {
	var limiter *rate.Limiter
	if o.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(o.Rate), max(1, int(o.Rate/10)))
	}
	scrub := o.Scrub
	if scrub == nil {
		scrub = func(s string) string { return s }
	}
	var outMu sync.Mutex
	var failedOutErr error
	// report settles rec: sent tells a message the broker's client had
	// from one that was read and never handed to it.
	report := func(rec *Record, sent bool, r broker.Receipt, err error) {
		if err != nil {
			if sent {
				st.fail(err)
			} else {
				st.NotSent.Add(1)
			}
			msg := scrub(err.Error())
			outMu.Lock()
			defer outMu.Unlock()
			if o.FailedOut != nil && failedOutErr == nil {
				e := envelope.FromMessage(o.Broker, rec.Msg)
				e.Error = msg
				// Not stored, so it has no offset; a partition is kept
				// only when one was asked for.
				e.Offset = nil
				if e.Partition != nil && *e.Partition < 0 {
					e.Partition = nil
				}
				line, encErr := envelope.Encode(e)
				if encErr == nil {
					_, encErr = o.FailedOut.Write(line)
				}
				failedOutErr = encErr
			}
			if o.Verbose && o.Log != nil {
				verb := "failed"
				if !sent {
					verb = "not sent"
				}
				fmt.Fprintf(o.Log, "#%d %s: %s\n", rec.N, verb, output.TerminalSafe(msg))
			}
			return
		}
		verb := "confirmed"
		if r.Duplicate {
			st.Duplicates.Add(1)
			verb = "duplicate"
		} else {
			st.Confirmed.Add(1)
		}
		if o.Verbose && o.Log != nil {
			outMu.Lock()
			fmt.Fprintf(o.Log, "#%d %s %s\n", rec.N, verb, describeReceipt(o.Broker, r))
			outMu.Unlock()
		}
	}

	readErr := publishAll(ctx, p, src, st, o, limiter, report)
	if d, ok := src.(interface{ Drain() []*Record }); ok && ctx.Err() != nil {
		for _, rec := range d.Drain() {
			report(rec, false, broker.Receipt{}, errNotSent)
		}
	}

	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.FlushTimeout)
	defer cancel()
	flushErr := p.Flush(flushCtx)
	// Close fails whatever is still unconfirmed through its done call, so
	// those messages are counted and written to FailedOut like any other.
	p.Close()

	outMu.Lock()
	defer outMu.Unlock()
	switch {
	case failedOutErr != nil:
		return fmt.Errorf("writing the failed messages to --failed-out failed, so it is incomplete: %w", failedOutErr)
	case readErr != nil:
		return readErr
	case ctx.Err() != nil:
		return mqerr.Wrap(mqerr.Interrupted, errors.New("interrupted: stopped reading input"))
	case st.Sent.Load()+st.NotSent.Load() == 0 && st.Invalid.Load() > 0:
		// Skipping bad lines is for a file with a few; one with nothing
		// else is the wrong file or format, not a success.
		return mqerr.Usagef("no message sent: all %d input lines were invalid (skipped by --skip-invalid)", st.Invalid.Load())
	case flushErr != nil:
		return mqerr.Wrap(mqerr.Partial, fmt.Errorf("confirms still outstanding after %s: %w", o.FlushTimeout, flushErr))
	case st.Failed.Load() > 0:
		return mqerr.Wrap(mqerr.Partial, fmt.Errorf("%d of %d messages failed: %s", st.Failed.Load(), st.Sent.Load(), scrub(st.Reasons())))
	}
	return nil
}

// publishAll reads and publishes until the input ends, ctx ends or the
// input is bad.
func publishAll(ctx context.Context, p broker.Producer, src Reader, st *Stats, o Options, limiter *rate.Limiter, report func(*Record, bool, broker.Receipt, error)) error {
	c := &confirms{st: st, epoch: time.Now(), report: report}
	for ctx.Err() == nil {
		rec, err := src.Next()
		if err != nil {
			if errors.Is(err, io.EOF) || (ctx.Err() != nil && errors.Is(err, ctx.Err())) {
				return nil
			}
			// Declared here: errors.As makes it escape, which would cost
			// an allocation per message.
			var invalid *InvalidLine
			if !errors.As(err, &invalid) {
				return err
			}
			st.Invalid.Add(1)
			if !o.SkipInvalid {
				return mqerr.Wrap(mqerr.Usage, fmt.Errorf("%w (pass --skip-invalid to skip such lines)", invalid))
			}
			if o.Log != nil {
				fmt.Fprintf(o.Log, "mqctl: skipped %v\n", invalid)
			}
			continue
		}
		if o.Prepare != nil {
			if err := o.Prepare(rec); err != nil {
				err = fmt.Errorf("message %d: %w", rec.N, err)
				report(rec, false, broker.Receipt{}, err)
				return mqerr.Wrap(mqerr.Usage, err)
			}
		}
		if limiter != nil {
			if err := limiter.Wait(ctx); err != nil {
				// Read but never sent: reported like a failure.
				report(rec, false, broker.Receipt{}, errNotSent)
				return nil
			}
		}
		if ctx.Err() != nil {
			// Read from a file (or arguments) as the interrupt came.
			report(rec, false, broker.Receipt{}, errNotSent)
			return nil
		}
		st.Sent.Add(1)
		rec.sent = time.Since(c.epoch)
		p.Publish(ctx, rec.Msg, func(r broker.Receipt, err error) { c.settle(rec, r, err) })
	}
	return nil
}

// confirms settles the records of one run; each done call closes over it
// and its record alone, which keeps the one allocation per message small.
type confirms struct {
	st *Stats
	// epoch starts the run's clock: latencies are measured on the
	// monotonic clock alone, as time.Now also reads the wall clock, which
	// costs as much again on some virtual machines.
	epoch  time.Time
	report func(*Record, bool, broker.Receipt, error)
}

// settle is rec's done call.
func (c *confirms) settle(rec *Record, r broker.Receipt, err error) {
	if err == nil {
		c.st.observe(time.Since(c.epoch) - rec.sent)
	}
	c.report(rec, true, r, err)
	// done is called once; after report nothing reads rec.
	rec.release()
}

// describeReceipt says where the broker named b put a message, from the
// receipt fields of its kind of metadata.
func describeReceipt(b string, r broker.Receipt) string {
	kind := broker.MetaKindOf(b)
	switch {
	case kind == broker.MetaKafka:
		return fmt.Sprintf("partition %d offset %d", r.Partition, r.Offset)
	case kind == broker.MetaAMQP:
		return fmt.Sprintf("delivery tag %d", r.DeliveryTag)
	case r.Unconfirmed:
		return "flushed (core NATS has no confirm)"
	case r.Duplicate:
		return fmt.Sprintf("stream %s seq %d (stored before, not stored again)", r.Stream, r.Seq)
	default:
		return fmt.Sprintf("stream %s seq %d", r.Stream, r.Seq)
	}
}
