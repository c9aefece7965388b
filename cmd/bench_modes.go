package cmd

import (
	"context"
	"fmt"

	"github.com/mqctl/mqctl/internal/bench"
	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

// benchCompareContexts is --compare a,b,c: the same workload on each
// context in turn, one table with ratios to the first, and the parity
// lines. Every context is connected before the first run, so a typo does
// not surface minutes in.
func benchCompareContexts(o *BenchOptions) error {
	type opened struct {
		conn broker.Conn
		t    broker.Target
	}
	var all []opened
	defer func() {
		for _, c := range all {
			c.conn.Close()
		}
	}()
	var brokers []string
	var conns []broker.Conn
	for _, name := range o.Compare {
		conn, t, err := o.OpenContext(o.Ctx, name)
		if err != nil {
			return fmt.Errorf("--compare %s: %w", name, err)
		}
		all = append(all, opened{conn, t})
		conns = append(conns, conn)
		brokers = append(brokers, conn.Broker())
		if err := requireWritable(t, "bench"); err != nil {
			return err
		}
	}
	if err := refuseOtherBrokersFlags(o, conns...); err != nil {
		return err
	}
	if err := checkBenchPlans(o, conns...); err != nil {
		return err
	}
	var runs []bench.Summary
	var outcome error
	for i, c := range all {
		if o.IO.ErrTTY {
			fmt.Fprintf(o.IO.Err, "%s (%s)…\n", output.TerminalSafe(o.Compare[i]), brokers[i])
		}
		tick := func(t bench.Tick) {
			if o.IO.ErrTTY {
				fmt.Fprintf(o.IO.Err, "\r\033[K%s", bench.LiveLine(t, o.Workload.Size))
			}
		}
		res, name, err := benchOnce(o, c.conn, c.t, o.Workload, tick)
		if err != nil {
			return fmt.Errorf("--compare %s: %w", o.Compare[i], err)
		}
		s := bench.Summarize(res, brokers[i], name)
		s.Flags = benchFlags(o, c.conn)
		runs = append(runs, s)
		if err := benchOutcome(res); err != nil && outcome == nil {
			outcome = fmt.Errorf("--compare %s: %w", o.Compare[i], err)
		}
		if res.Interrupted {
			break
		}
	}
	c := bench.Compare(o.Compare[:len(runs)], runs)
	c.Parity = bench.Parity(brokers[:len(runs)], o.Knobs)
	if err := output.Object(o.IO, o.Format, c, c.Table); err != nil {
		return err
	}
	if o.Format.Name == "table" {
		for _, l := range c.Parity {
			fmt.Fprintln(o.IO.Out, l)
		}
	}
	return outcome
}

// benchRateSearch is --rate max --p99-under D: fixed-rate steps of the
// workload, each in a fresh destination, until the highest rate whose p99
// publish→confirm stays under D is found (bench.RateSearch).
func benchRateSearch(o *BenchOptions) error {
	conn, t, err := openBench(o)
	if err != nil {
		return err
	}
	defer conn.Close()
	var lost error
	n := 0
	step := func(ctx context.Context, rate float64) (bench.StepOutcome, error) {
		w := o.Workload
		w.Rate = rate
		res, _, err := benchOnce(o, conn, t, w, nil)
		if err != nil {
			return bench.StepOutcome{}, err
		}
		if res.Interrupted {
			return bench.StepOutcome{}, mqerr.Wrap(mqerr.Interrupted, fmt.Errorf("interrupted"))
		}
		if res.Lost > 0 && lost == nil {
			lost = mqerr.New(mqerr.Partial, "%d confirmed messages were never received (at %.0f msg/s)", res.Lost, rate)
		}
		return bench.StepOf(res), nil
	}
	report := func(st bench.Step) {
		if o.IO.ErrTTY {
			fmt.Fprintln(o.IO.Err, bench.StepLine(n, st))
		}
		n++
	}
	r, err := bench.RateSearch{Bound: o.P99Under}.Run(o.Ctx, step, report)
	r.Broker, r.Workload = conn.Broker(), o.Workload
	// The steps so far are worth keeping after an error; no step is not.
	if len(r.Steps) > 0 {
		if perr := output.Object(o.IO, o.Format, r, r.Table); perr != nil && err == nil {
			err = perr
		}
	}
	switch {
	case err != nil:
		return err
	case lost != nil:
		return lost
	case !r.Found:
		return fmt.Errorf("no rate kept p99 publish→confirm under %s", o.P99Under)
	}
	return nil
}
