package cmd

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"

	"github.com/mqctl/mqctl/internal/bench"
	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

func benchRun(o *BenchOptions) error {
	ctx := o.Ctx
	var csvOut *bench.CSV
	if o.CSV != "" {
		f, err := os.Create(o.CSV)
		if err != nil {
			return mqerr.Usagef("--csv: %v", err)
		}
		defer f.Close()
		csvOut = bench.NewCSV(f, o.Workload.Size)
	}
	conn, t, err := o.Open(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := requireWritable(t, "bench"); err != nil {
		return err
	}
	for b, names := range bench.BrokerFlags {
		for _, n := range names {
			if b != conn.Broker() && o.Changed(n) {
				return mqerr.Usagef("--%s applies to %s only, and this context is %s", n, b, conn.Broker())
			}
		}
	}
	name := o.Dest
	if name == "" {
		name = fmt.Sprintf("mqctl-bench-%08x", rand.Uint32())
	}
	d, popts, copts, err := bench.Plan(conn.Broker(), name, o.Workload, o.Knobs)
	if err != nil {
		return mqerr.Wrap(mqerr.Usage, err)
	}
	popts.ConfirmTimeout = t.EffectiveTimeout()
	env := bench.Env{Producer: popts, Consumer: copts, DropEvery: o.DropEvery}
	if env.Publisher, err = broker.As[broker.Publisher](conn, "bench"); err != nil {
		return err
	}
	if env.Subscriber, err = broker.As[broker.Subscriber](conn, "bench"); err != nil {
		return err
	}
	if o.Dest == "" {
		dests, err := broker.As[broker.BenchDestinations](conn, "bench")
		if err != nil {
			return err
		}
		cctx, cancel := withTimeout(ctx, t)
		err = dests.CreateBenchDestination(cctx, d)
		cancel()
		if err != nil {
			return err
		}
		if !o.Keep {
			defer func() {
				// Deleted even after Ctrl-C: a context of its own.
				dctx, cancel := withTimeout(context.Background(), t)
				defer cancel()
				if err := dests.DeleteBenchDestination(dctx, d); err != nil {
					o.Warnf("could not delete %s: %v", name, err)
				}
			}()
		}
	}
	if o.Knobs.Core {
		o.Warnf("core NATS has no confirm: \"confirmed\" means flushed to the server")
	}
	env.Tick = func(t bench.Tick) {
		if o.IO.ErrTTY {
			fmt.Fprintf(o.IO.Err, "\r\033[K%s", bench.LiveLine(t, o.Workload.Size))
		}
		if csvOut != nil {
			csvOut.Row(t)
		}
	}
	res, err := bench.Run(ctx, env, o.Workload)
	if o.IO.ErrTTY {
		fmt.Fprint(o.IO.Err, "\r\033[K")
	}
	if err != nil {
		return err
	}
	if csvOut != nil && csvOut.Err() != nil {
		o.Warnf("--csv %s: %v", o.CSV, csvOut.Err())
	}
	s := bench.Summarize(res, conn.Broker(), name)
	if err := output.Object(o.IO, o.Format, s, s.Table); err != nil {
		return err
	}
	return benchOutcome(res)
}

// benchOutcome is the run's exit: 130 interrupted, 3 when anything
// confirmed was lost or a publish failed.
func benchOutcome(r *bench.Result) error {
	switch {
	case r.Interrupted:
		return mqerr.Wrap(mqerr.Interrupted, fmt.Errorf("interrupted"))
	case r.Lost > 0:
		return mqerr.New(mqerr.Partial, "%d confirmed messages were never received", r.Lost)
	case r.Failed > 0:
		return mqerr.New(mqerr.Partial, "%d of %d messages failed: %s", r.Failed, r.Sent, r.FirstError)
	case r.FirstError != "":
		return fmt.Errorf("%s", r.FirstError)
	}
	return nil
}
