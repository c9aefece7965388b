package cmd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/lag/source"
	"github.com/mqctl/mqctl/internal/lag/view"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/nagios"
	"github.com/mqctl/mqctl/internal/output"
)

// LagOptions is what `mqctl lag` needs once its flags are parsed and
// checked against each other.
type LagOptions struct {
	IO     *output.Streams
	Format output.Format
	Names  []string
	Ctx    context.Context
	f      *Factory // contexts, URL and warnings

	regex       bool
	allContexts bool
	timeLag     bool
	mode        lag.Mode
	// changed reports whether a flag was given on the command line.
	changed func(name string) bool
}

// NewCmdLag builds `mqctl lag`; runF, when given, receives the options
// instead of the run (tests check the parsing there).
func NewCmdLag(f *Factory, runF func(*LagOptions) error) *cobra.Command {
	o := &LagOptions{f: f, IO: f.IO}
	c := &cobra.Command{
		Use:   "lag [NAME...]",
		Short: "Consumer lag and queue depth on Kafka, RabbitMQ and JetStream, with watch and CI checks",
		Long: `Show consumer lag: Kafka groups per topic and partition (committed, end, lag, owner,
state), RabbitMQ queues (ready, unacked, consumers, rates, drain time) and JetStream consumers
(num_pending, ack pending, redelivered, waiting, last activity). NAMEs select groups, queues or
streams (exact, or regular expressions with --regex); all by default. A NAME that selects nothing
exits 5 naming it.

RabbitMQ counts come from the management API, which samples them every few seconds (5 s by
default): right after a queue is declared it has none ("?" in the table, null in JSON, and a
STATS column says "absent"). Queues named on the command line are also read exactly over AMQP
(a passive declare: ready and consumers); STATS says "behind" when the API's figures were older.
A table of queues that were not named ends with a note on stderr that their counts are the API's
sample ("sampled" in JSON) and can be behind.

--watch refreshes every --interval and judges every row over a window of --samples samples,
once the window is full ("-" until then; the samples, not the clock, decide):
  OK; WARN (lag grew across the whole window); STALL (committed offset the same in every sample
  while lag > 0); STOP (the same for two windows: the consumer looks gone); REWIND (the offset
  went back). Ctrl-C ends it with exit 130.

On a terminal the table fits the window's width (and with --watch its height), read again at
every refresh, so no row wraps: long names are shortened with "…", and columns go in this
order until it fits:
` + view.WrapList(lag.DroppedFirst(), "  ", 94) + `
-o wide shows every column; in a pipe every column is printed.

--check exits with the Nagios codes 0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN, printing a status line
first: thresholds --warn/--crit (messages), --warn-time/--crit-time (time lag), and --rules
(sample --samples times every --interval and judge as --watch does; STALL, STOP and REWIND
are CRIT, WARN is WARN). A row reaches a threshold at or above it, so 0 is refused (it would
hold for every row): --warn 1 warns at any lag.

-o prometheus prints the text exposition format: to a pipe or a file (a textfile collector, a
scrape) the bytes unchanged, on a terminal with control characters, escape sequences and bidi
controls in label values (queue, group, context names) shown escaped (\x1b, \u202e), as -o raw
does. --all-contexts or -c a,b,c combine contexts:
a context that does not answer is named on stderr, listed in -o json/jsonl/yaml as
{"context": NAME, "kind": "error", "error": ...}, set to 0 in mqctl_context_up for -o
prometheus, and makes the exit code 3 (partial) while the others are shown.

Time lag on RabbitMQ is the publisher's timestamp on the oldest ready message, from the
management API (classic queues whose messages carry a timestamp; unknown otherwise, and
UNKNOWN missing=time_lag with --crit-time). Flags that mean nothing here are refused (exit 2;
UNKNOWN with --check): --samples and --interval without --watch or --check --rules,
thresholds and --rules without --check, --url with -c a,b or --all-contexts, -o with --check.`,
		Example: `  mqctl lag                                  # every group, queue or stream of the context
  mqctl lag orders billing --time-lag
  mqctl lag --all-contexts -o prometheus
  mqctl lag --watch --interval 5s             # -o wide for every column
  mqctl lag billing --check --warn 1000 --crit 10000
  mqctl lag --check --rules --samples 4 --interval 10s -c prod-kafka,prod-nats`,
		ValidArgsFunction: completeNames(f, broker.NamesLag, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.changed = cmd.Flags().Changed
			o.Names, o.Ctx = args, cmd.Context()
			err := o.parse()
			if err == nil && runF != nil {
				return runF(o)
			}
			if err == nil {
				err = lagRun(o)
			}
			return checkErr(f, o.mode.Check, err)
		},
	}
	fl := c.Flags()
	fl.BoolVar(&o.regex, "regex", false, "NAMEs are regular expressions")
	fl.BoolVar(&o.allContexts, "all-contexts", false, "every context in the config file, side by side")
	fl.BoolVar(&o.timeLag, "time-lag", false, "estimate time lag (age of the oldest unconsumed message); Kafka: a fetch per partition leader, JetStream: at most a message read per consumer position")
	fl.BoolVar(&o.mode.Watch, "watch", false, "refresh every --interval and evaluate the trend")
	fl.DurationVar(&o.mode.Interval, "interval", 2*time.Second, "time between samples for --watch and --check --rules")
	fl.BoolVar(&o.mode.Check, "check", false, "exit with Nagios codes: 0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN")
	fl.IntVar(&o.mode.Samples, "samples", 5, "samples in the evaluation window")
	fl.Int64Var(&o.mode.Thresholds.WarnLag, "warn", 0, "--check: WARN at this many messages of lag or more (1 or more)")
	fl.Int64Var(&o.mode.Thresholds.CritLag, "crit", 0, "--check: CRIT at this many messages of lag or more (1 or more)")
	fl.DurationVar(&o.mode.Thresholds.WarnTime, "warn-time", 0, "--check: WARN at this time lag or more (above 0)")
	fl.DurationVar(&o.mode.Thresholds.CritTime, "crit-time", 0, "--check: CRIT at this time lag or more (above 0)")
	fl.BoolVar(&o.mode.Thresholds.Rules, "rules", false, "--check: judge by the evaluation rules over --samples samples")
	return c
}

// parse reads the output format and refuses flags that conflict.
func (o *LagOptions) parse() error {
	format, err := o.f.Format()
	if err != nil {
		return err
	}
	o.Format = format
	return o.checkFlags(o.f, format)
}

func lagRun(o *LagOptions) error {
	ctx, f, format, names := o.Ctx, o.f, o.Format, o.Names
	match, err := source.Matcher(names, o.regex)
	if err != nil {
		return err
	}
	src, err := newLagSource(f, o, names, match)
	if err != nil {
		return err
	}
	defer src.Close()
	if err := src.Prepare(ctx); err != nil {
		return err
	}
	o.mode.Thresholds.NoTime = src.NoTime()

	switch {
	case o.mode.Check:
		return lagCheck(ctx, f, src, o)
	case o.mode.Watch:
		return src.Watch(ctx, o.mode.Samples, o.mode.Interval,
			func(err error) { f.Warnf("%v (retrying every %s)", err, o.mode.Interval) },
			func(r source.Refresh) error { return view.Watch(f.IO, format, o.mode.Interval, o.mode.Samples, r) })
	}
	rows, failures, err := src.Read(ctx)
	if err != nil {
		return err
	}
	missing := src.Missing(rows)
	// NAMEs that selected nothing get one line on stderr, not an empty
	// table above it.
	if len(rows) > 0 || len(missing) == 0 || format.Name != "table" {
		if err := view.Print(f.IO, format, rows, nil, src.Report(failures)); err != nil {
			return err
		}
	}
	statsNotes(f, rows)
	if format.Name == "table" {
		// JSON and YAML carry "stats"; a table has only this line.
		if note := view.SampledNote(rows, "mqctl lag QUEUE"); note != "" {
			fmt.Fprintf(f.IO.Err, "mqctl: note: %s\n", note)
		}
	}
	if len(failures) > 0 {
		return mqerr.New(mqerr.Partial, "%d of %d contexts did not answer: %s (their rows are missing)", len(failures), src.Contexts(), source.FailedNames(failures))
	}
	if len(missing) > 0 {
		return mqerr.New(mqerr.NotFound, "%s", source.MissingLine(missing, o.regex))
	}
	return nil
}

// checkFlags refuses flags that mean nothing in this mode, before any
// connection: a flag silently ignored reads as a promise kept.
func (o *LagOptions) checkFlags(f *Factory, format output.Format) error {
	changed := o.changed
	if changed == nil {
		changed = func(string) bool { return false }
	}
	if err := o.mode.CheckFlags(changed); err != nil {
		return err
	}
	multi := o.allContexts || strings.Contains(f.Global.Context, ",")
	switch {
	case o.allContexts && f.Global.Context != "":
		return mqerr.Usagef("--all-contexts and -c exclude each other")
	case multi && f.Global.URL != "":
		return mqerr.Usagef("--url names one broker: with -c a,b or --all-contexts each context uses its own URL")
	}
	return o.mode.CheckOutput(format.Name == "table" && !format.Wide, f.Global.Output)
}

// timeLagFlag names the flag that asked for time lag.
func (o *LagOptions) timeLagFlag() string {
	switch {
	case o.timeLag:
		return "--time-lag"
	case o.mode.Thresholds.WarnTime > 0:
		return "--warn-time"
	}
	return "--crit-time"
}

// newLagSource resolves the contexts and builds lag's Source over them.
func newLagSource(f *Factory, o *LagOptions, names []string, match func(string) bool) (*source.Source, error) {
	targets, unresolved, multi, err := lagTargets(f, o.allContexts)
	if err != nil {
		return nil, err
	}
	for _, u := range unresolved {
		f.Warnf("context %s: %s", u.Context, u.Error)
	}
	q := broker.LagQuery{Match: match, TimeLag: o.timeLag || o.mode.Thresholds.WarnTime > 0 || o.mode.Thresholds.CritTime > 0}
	if !o.regex {
		q.Names = names
	}
	return source.New(source.Config{Targets: targets, Unresolved: unresolved, Multi: multi,
		Names: names, Regex: o.regex, Query: q, TimeLagFlag: o.timeLagFlag(), Warnf: f.Warnf}), nil
}

// statsNotes says on stderr which RabbitMQ counts are unknown or were
// behind the data, and what to do about it.
func statsNotes(f *Factory, rows []lag.Row) {
	if note := statsNote(rows, "mqctl lag QUEUE"); note != "" {
		fmt.Fprintf(f.IO.Err, "mqctl: note: %s\n", note)
	}
}

// statsNote is view.StatsNote (ls shows the same note).
func statsNote(rows []lag.Row, hint string) string { return view.StatsNote(rows, hint) }

// lagCheck prints the Nagios status line first and exits with its code.
func lagCheck(ctx context.Context, f *Factory, src *source.Source, o *LagOptions) error {
	res, err := src.Check(ctx, o.mode.Thresholds, o.mode.Samples, o.mode.Interval)
	if err != nil {
		return err
	}
	view.Check(f.IO, res, f.Global.Verbose > 0)
	if res.Status == nagios.OK {
		return nil
	}
	return &exitError{code: res.Status.Code()}
}
