package cmd

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/mqctl/mqctl/internal/bench"
	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

func benchRun(o *BenchOptions) error {
	switch {
	case len(o.Compare) > 0:
		return benchCompareContexts(o)
	case o.RateMax:
		return benchRateSearch(o)
	case o.Worker:
		return benchWorker(o)
	case o.Workers > 0:
		return benchLead(o)
	}
	var csvOut *bench.CSV
	if o.CSV != "" {
		f, err := os.Create(o.CSV)
		if err != nil {
			return mqerr.Usagef("--csv: %v", err)
		}
		defer f.Close()
		csvOut = bench.NewCSV(f, o.Workload.Size)
	}
	conn, t, err := openBench(o)
	if err != nil {
		return err
	}
	defer conn.Close()
	tick := func(t bench.Tick) {
		if o.IO.ErrTTY {
			fmt.Fprintf(o.IO.Err, "\r\033[K%s", bench.LiveLine(t, o.Workload.Size))
		}
		if csvOut != nil {
			csvOut.Row(t)
		}
	}
	res, name, err := benchOnce(o, conn, t, o.Workload, tick)
	if err != nil {
		return err
	}
	if csvOut != nil && csvOut.Err() != nil {
		o.Warnf("--csv %s: %v", o.CSV, csvOut.Err())
	}
	s := bench.Summarize(res, conn.Broker(), name)
	s.Flags = benchFlags(o, conn)
	if err := output.Object(o.IO, o.Format, s, s.Table); err != nil {
		return err
	}
	for _, n := range s.Notes() {
		o.Warnf("%s", n)
	}
	return benchOutcome(res)
}

// benchFlags are the broker flags given for a run on conn, as the kept
// summary holds them: those its driver takes, and --prefetch.
func benchFlags(o *BenchOptions, conn broker.Conn) map[string]string {
	if o.FlagValue == nil {
		return nil
	}
	caps, _ := broker.CapabilitiesOf(conn)
	var flags map[string]string
	for _, f := range append([]string{"prefetch"}, caps.Flags["bench"]...) {
		if o.Changed(f) {
			if flags == nil {
				flags = map[string]string{}
			}
			flags[f] = o.FlagValue(f)
		}
	}
	return flags
}

// openBench connects to the context's broker and refuses a read-only
// context, or a bench flag or knob its driver does not take, before any
// run mode prints; the caller closes the connection.
func openBench(o *BenchOptions) (broker.Conn, broker.Target, error) {
	conn, t, err := o.Open(o.Ctx)
	if err != nil {
		return nil, t, err
	}
	if err := requireWritable(t, "bench"); err != nil {
		conn.Close()
		return nil, t, err
	}
	err = refuseOtherBrokersFlags(o, conn)
	if err == nil {
		err = checkBenchPlans(o, conn)
	}
	if err != nil {
		conn.Close()
		return nil, t, err
	}
	return conn, t, nil
}

// refuseOtherBrokersFlags refuses a bench flag that the drivers of conns
// (one, or the --compare contexts') do not take, with the drivers' text.
func refuseOtherBrokersFlags(o *BenchOptions, conns ...broker.Conn) error {
	if len(conns) == 1 {
		caps, _ := broker.CapabilitiesOf(conns[0])
		return caps.CheckFlags("bench", o.Changed)
	}
	taken := map[string]bool{}
	for _, c := range conns {
		caps, _ := broker.CapabilitiesOf(c)
		for _, f := range caps.Flags["bench"] {
			taken[f] = true
		}
	}
	for _, f := range broker.CommandFlags("bench") {
		if o.Changed(f) && !taken[f] {
			return mqerr.Usagef("--%s applies to %s only, and no --compare context is", f, strings.Join(broker.FlagOwners("bench", f), " and "))
		}
	}
	return nil
}

// checkBenchPlans asks the driver of each of conns to plan a run with
// o's knobs, so that a knob it refuses (a typo in --acks, --idempotent=false
// with acks=1) is refused before the first run of a --compare, or before a
// leader waits for its workers, not minutes in.
func checkBenchPlans(o *BenchOptions, conns ...broker.Conn) error {
	for _, c := range conns {
		if _, _, _, err := bench.Plan(c.Broker(), "mqctl-bench-check", o.Workload, o.Knobs); err != nil {
			return planError(err)
		}
	}
	return nil
}

// planError makes a driver's refusal of a knob bad input; an error that
// has a kind already (a broker without the bench role) keeps it.
func planError(err error) error {
	var typed *mqerr.Error
	if !errors.As(err, &typed) {
		err = mqerr.Wrap(mqerr.Usage, err)
	}
	return err
}

// benchOnce runs w once on conn: in o.Dest, or in a destination it
// creates and deletes again unless o.Keep. It returns the result and the
// destination's name.
func benchOnce(o *BenchOptions, conn broker.Conn, t broker.Target, w bench.Workload, tick func(bench.Tick)) (*bench.Result, string, error) {
	ctx := o.Ctx
	if err := requireWritable(t, "bench"); err != nil {
		return nil, "", err
	}
	name := o.Dest
	if name == "" {
		name = fmt.Sprintf("mqctl-bench-%08x", rand.Uint32())
	}
	d, popts, copts, err := bench.Plan(conn.Broker(), name, w, o.Knobs)
	if err != nil {
		return nil, "", planError(err)
	}
	popts.ConfirmTimeout = t.EffectiveTimeout()
	env := bench.Env{Producer: popts, Consumer: copts, DropEvery: o.DropEvery, Tick: tick}
	if env.Publisher, err = broker.As[broker.Publisher](conn, "bench"); err != nil {
		return nil, "", err
	}
	if env.Subscriber, err = broker.As[broker.Subscriber](conn, "bench"); err != nil {
		return nil, "", err
	}
	if o.Dest == "" {
		dests, err := broker.As[broker.BenchDestinations](conn, "bench")
		if err != nil {
			return nil, "", err
		}
		cctx, cancel := withTimeout(ctx, t)
		err = dests.CreateBenchDestination(cctx, d)
		cancel()
		if err != nil {
			return nil, "", err
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
	if popts.Core {
		o.Warnf("core NATS has no confirm: \"confirmed\" means flushed to the server")
	}
	if popts.NoConfirm {
		o.Warnf("publishing without confirms: \"confirmed\" means written to the connection, and lost counts messages written and never received")
	}
	res, err := bench.Run(ctx, env, w)
	if o.IO.ErrTTY {
		fmt.Fprint(o.IO.Err, "\r\033[K")
	}
	return res, name, err
}

// benchOutcome is the run's exit: 130 interrupted, 3 when anything
// confirmed was lost or a publish failed.
func benchOutcome(r *bench.Result) error {
	switch {
	case r.Interrupted:
		return mqerr.Wrap(mqerr.Interrupted, fmt.Errorf("interrupted"))
	case r.Lost > 0 && r.Unconfirmed:
		return mqerr.New(mqerr.Partial, "%d messages written (not confirmed) were never received", r.Lost)
	case r.Lost > 0:
		return mqerr.New(mqerr.Partial, "%d confirmed messages were never received", r.Lost)
	case r.Failed > 0:
		return mqerr.New(mqerr.Partial, "%d of %d messages failed: %s", r.Failed, r.Sent, r.FirstError)
	case r.FirstError != "":
		return fmt.Errorf("%s", r.FirstError)
	}
	return nil
}
