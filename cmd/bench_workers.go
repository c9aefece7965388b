package cmd

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mqctl/mqctl/internal/bench"
	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

// workerFlags are the bench flags a worker takes itself; the workload
// and the broker knobs come from the leader.
var workerFlags = map[string]bool{"worker": true, "join-timeout": true, "core": true}

// checkBenchWorker refuses what a worker does not take, before connecting.
func checkBenchWorker(cmd *cobra.Command, args []string, joinTimeout time.Duration) error {
	if len(args) > 0 {
		return mqerr.Usagef("bench --worker: takes no arguments (%s goes to the leader, bench --workers N)", strings.Join(args, " "))
	}
	var bad []string
	local := cmd.LocalFlags()
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if local.Lookup(f.Name) != nil && !workerFlags[f.Name] {
			bad = append(bad, "--"+f.Name)
		}
	})
	if len(bad) > 0 {
		return mqerr.Usagef("bench --worker: the workload comes from the leader; give %s to bench --workers N", strings.Join(bad, ", "))
	}
	if joinTimeout <= 0 {
		return mqerr.Usagef("--join-timeout %s: want more than 0", joinTimeout)
	}
	return nil
}

// checkBenchLeader refuses --workers where it does not fit.
func checkBenchLeader(cmd *cobra.Command, w *bench.Workload, workers int, joinTimeout time.Duration, rateMax bool, compare []string, dest string) error {
	ch := cmd.Flags().Changed
	if !ch("workers") {
		if ch("join-timeout") {
			return mqerr.Usagef("--join-timeout: applies to --workers and --worker only")
		}
		return nil
	}
	switch {
	case workers < 1:
		return mqerr.Usagef("--workers %d: want 1 or more", workers)
	case joinTimeout <= 0:
		return mqerr.Usagef("--join-timeout %s: want more than 0", joinTimeout)
	case w.Mode == "sub":
		return mqerr.Usagef("--workers: each worker reads what it sends; bench sub does not apply")
	case dest != "":
		return mqerr.Usagef("--workers: the leader creates a destination for each worker; --dest does not apply")
	case rateMax || len(compare) > 0:
		return mqerr.Usagef("--workers: not with --rate max or --compare")
	case ch("csv"):
		return mqerr.Usagef("--csv: workers send no timeline; not with --workers")
	case w.Count > 0 && w.Count < int64(workers):
		return mqerr.Usagef("--count %d: want at least one message per worker (--workers %d)", w.Count, workers)
	}
	return nil
}

// cluster is conn as a distributed run uses it.
func benchCluster(o *BenchOptions, conn broker.Conn, t broker.Target) (bench.Cluster, error) {
	c := bench.Cluster{Broker: conn.Broker(), Core: o.Knobs.Core, ConfirmTimeout: t.EffectiveTimeout(), Logf: o.Logf}
	if err := requireWritable(t, "bench"); err != nil {
		return c, err
	}
	var err error
	if c.Publisher, err = broker.As[broker.Publisher](conn, "bench"); err != nil {
		return c, err
	}
	if c.Subscriber, err = broker.As[broker.Subscriber](conn, "bench"); err != nil {
		return c, err
	}
	c.Dests, err = broker.As[broker.BenchDestinations](conn, "bench")
	return c, err
}

// benchWorker is bench --worker: join, run the share the leader hands
// out, send it back, and print it here too.
func benchWorker(o *BenchOptions) error {
	conn, t, err := openBench(o)
	if err != nil {
		return err
	}
	defer conn.Close()
	c, err := benchCluster(o, conn, t)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	res, dest, err := bench.Work(o.Ctx, c, bench.WorkOptions{Host: host, JoinTimeout: o.JoinTimeout})
	if res == nil {
		if errors.Is(err, o.Ctx.Err()) && o.Ctx.Err() != nil {
			return mqerr.Wrap(mqerr.Interrupted, fmt.Errorf("interrupted"))
		}
		return err
	}
	s := bench.Summarize(res, conn.Broker(), dest)
	if perr := output.Object(o.IO, o.Format, s, s.Table); perr != nil {
		return perr
	}
	if err != nil {
		return err
	}
	return benchOutcome(res)
}

// benchLead is bench --workers N: lead the run, print each worker's row
// and the merged total; exit 3 when a worker went missing or failed.
func benchLead(o *BenchOptions) error {
	conn, t, err := openBench(o)
	if err != nil {
		return err
	}
	defer conn.Close()
	c, err := benchCluster(o, conn, t)
	if err != nil {
		return err
	}
	if o.Knobs.Core { // --core is refused on other brokers above
		o.Warnf("core NATS has no confirm: \"confirmed\" means flushed to the server")
	}
	lo := bench.LeadOptions{Workers: o.Workers, JoinTimeout: o.JoinTimeout, Workload: o.Workload, Knobs: o.Knobs, Keep: o.Keep}
	if o.IO.ErrTTY {
		lo.Progress = func(sent, confirmed int64, running int) {
			fmt.Fprintf(o.IO.Err, "\r\033[K%d workers running  sent %d  confirmed %d", running, sent, confirmed)
		}
		c.Logf = func(format string, args ...any) {
			fmt.Fprint(o.IO.Err, "\r\033[K")
			o.Logf(format, args...)
		}
	}
	d, err := bench.Lead(o.Ctx, c, lo)
	if o.IO.ErrTTY {
		fmt.Fprint(o.IO.Err, "\r\033[K")
	}
	switch {
	case err != nil && o.Ctx.Err() != nil:
		return mqerr.Wrap(mqerr.Interrupted, fmt.Errorf("interrupted before the workers started: %w", err))
	case err != nil:
		return err
	}
	d.Total.Flags = benchFlags(o, conn)
	if err := output.Object(o.IO, o.Format, d, d.Table); err != nil {
		return err
	}
	if d.Missing+d.Failed > 0 {
		var names []string
		for _, w := range d.Workers {
			if w.Status != bench.WorkerOK {
				names = append(names, fmt.Sprintf("%s (%s) %s", w.ID, w.Host, w.Status))
			}
		}
		return mqerr.New(mqerr.Partial, "%d of %d workers did not finish: %s; the total is the others'", d.Missing+d.Failed, len(d.Workers), strings.Join(names, ", "))
	}
	tot := d.Total
	return benchOutcome(&bench.Result{Interrupted: tot.Interrupted, Lost: tot.Lost, Failed: tot.Failed, Sent: tot.Sent, FirstError: tot.Error})
}
