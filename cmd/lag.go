package cmd

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/lag/source"
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
	watch       bool
	interval    time.Duration
	check       bool
	samples     int
	th          lag.Thresholds
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

--watch refreshes every --interval and judges every row over a window of --samples samples,
once the window is full ("-" until then; the samples, not the clock, decide):
  OK; WARN (lag grew across the whole window); STALL (committed offset the same in every sample
  while lag > 0); STOP (the same for two windows: the consumer looks gone); REWIND (the offset
  went back). Ctrl-C ends it with exit 130.

On a terminal the table fits the window's width (and with --watch its height), read again at
every refresh, so no row wraps: long names are shortened with "…", and columns go in this
order until it fits:
` + wrapList(lag.DroppedFirst(), "  ", 94) + `
-o wide shows every column; in a pipe every column is printed.

--check exits with the Nagios codes 0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN, printing a status line
first: thresholds --warn/--crit (messages), --warn-time/--crit-time (time lag), and --rules
(sample --samples times every --interval and judge as --watch does; STALL, STOP and REWIND
are CRIT, WARN is WARN).

-o prometheus prints the text exposition format. --all-contexts or -c a,b,c combine contexts:
a context that does not answer is named on stderr, listed in -o json/jsonl/yaml as
{"context": NAME, "kind": "error", "error": ...}, set to 0 in mqctl_context_up for -o
prometheus, and makes the exit code 3 (partial) while the others are shown.

Flags that mean nothing here are refused (exit 2; UNKNOWN with --check): --time-lag,
--warn-time and --crit-time on RabbitMQ (the management API does not tell the age of a queue's
oldest message; with -c a,b only when no listed context has time lag, else the contexts without
it are named on stderr and their rows have none), --samples and --interval without --watch or
--check --rules, thresholds and --rules without --check, --url with -c a,b or --all-contexts,
-o with --check.`,
		Example: `  mqctl lag                                  # every group, queue or stream of the context
  mqctl lag orders billing --time-lag
  mqctl lag --all-contexts -o prometheus
  mqctl lag --watch --interval 5s             # -o wide for every column
  mqctl lag billing --check --warn 1000 --crit 10000
  mqctl lag --check --rules --samples 4 --interval 10s -c prod-kafka,prod-nats`,
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
			return checkErr(f, o.check, err)
		},
	}
	fl := c.Flags()
	fl.BoolVar(&o.regex, "regex", false, "NAMEs are regular expressions")
	fl.BoolVar(&o.allContexts, "all-contexts", false, "every context in the config file, side by side")
	fl.BoolVar(&o.timeLag, "time-lag", false, "estimate time lag (age of the oldest unconsumed message); costs a fetch per lagging partition")
	fl.BoolVar(&o.watch, "watch", false, "refresh every --interval and evaluate the trend")
	fl.DurationVar(&o.interval, "interval", 2*time.Second, "time between samples for --watch and --check --rules")
	fl.BoolVar(&o.check, "check", false, "exit with Nagios codes: 0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN")
	fl.IntVar(&o.samples, "samples", 5, "samples in the evaluation window")
	fl.Int64Var(&o.th.WarnLag, "warn", 0, "--check: WARN at this many messages of lag")
	fl.Int64Var(&o.th.CritLag, "crit", 0, "--check: CRIT at this many messages of lag")
	fl.DurationVar(&o.th.WarnTime, "warn-time", 0, "--check: WARN at this time lag")
	fl.DurationVar(&o.th.CritTime, "crit-time", 0, "--check: CRIT at this time lag")
	fl.BoolVar(&o.th.Rules, "rules", false, "--check: judge by the evaluation rules over --samples samples")
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
	o.th.NoTime = src.NoTime()

	switch {
	case o.check:
		return lagCheck(ctx, f, src, o)
	case o.watch:
		return lagWatch(ctx, f, src, o, format)
	}
	rows, failures, err := src.Read(ctx)
	if err != nil {
		return err
	}
	missing := src.Missing(rows)
	// NAMEs that selected nothing get one line on stderr, not an empty
	// table above it.
	if len(rows) > 0 || len(missing) == 0 || format.Name != "table" {
		if err := printLag(f, format, rows, nil, src.Report(failures)); err != nil {
			return err
		}
	}
	statsNotes(f, rows)
	if len(failures) > 0 {
		return mqerr.New(mqerr.Partial, "%d of %d contexts did not answer: %s (their rows are missing)", len(failures), src.Contexts(), source.FailedNames(failures))
	}
	if len(missing) > 0 {
		return mqerr.New(mqerr.NotFound, "%s", source.MissingLine(missing, o.regex))
	}
	return nil
}

// wrapList joins items with ", " in lines of at most width columns, each
// starting with indent.
func wrapList(items []string, indent string, width int) string {
	var lines []string
	line := indent
	for i, it := range items {
		if i < len(items)-1 {
			it += ","
		}
		if len(line)+len(it)+1 > width && line != indent {
			lines = append(lines, strings.TrimRight(line, " "))
			line = indent
		}
		line += it + " "
	}
	return strings.Join(append(lines, strings.TrimRight(line, " ")), "\n")
}

// checkFlags refuses flags that mean nothing in this mode, before any
// connection: a flag silently ignored reads as a promise kept.
func (o *LagOptions) checkFlags(f *Factory, format output.Format) error {
	changed := o.changed
	if changed == nil {
		changed = func(string) bool { return false }
	}
	if o.samples < 2 {
		return mqerr.Usagef("--samples %d: want 2 or more", o.samples)
	}
	if o.interval <= 0 {
		return mqerr.Usagef("--interval must be positive")
	}
	sampling := o.watch || o.check && o.th.Rules
	for _, name := range []string{"samples", "interval"} {
		if changed(name) && !sampling {
			return mqerr.Usagef("--%s applies to --watch and --check --rules", name)
		}
	}
	if !o.check {
		for _, name := range []string{"warn", "crit", "warn-time", "crit-time", "rules"} {
			if changed(name) {
				return mqerr.Usagef("--%s applies to --check", name)
			}
		}
	}
	multi := o.allContexts || strings.Contains(f.Global.Context, ",")
	switch {
	case o.allContexts && f.Global.Context != "":
		return mqerr.Usagef("--all-contexts and -c exclude each other")
	case multi && f.Global.URL != "":
		return mqerr.Usagef("--url names one broker: with -c a,b or --all-contexts each context uses its own URL")
	}
	if o.check {
		if err := o.th.Validate(); err != nil {
			return err
		}
		if o.watch {
			return mqerr.Usagef("--check and --watch exclude each other")
		}
		if format.Name != "table" || format.Wide {
			return mqerr.Usagef("--check prints a Nagios status line (and the table with -v): -o %s does not apply", f.Global.Output)
		}
	}
	return nil
}

// timeLagFlag names the flag that asked for time lag.
func (o *LagOptions) timeLagFlag() string {
	switch {
	case o.timeLag:
		return "--time-lag"
	case o.th.WarnTime > 0:
		return "--warn-time"
	}
	return "--crit-time"
}

// lagTargets resolves one target, the comma-separated -c list, or every
// context of the file, reading the file once. Listed contexts use only
// their own settings, as dlq move --to-context does: MQCTL_USERNAME and
// MQCTL_PASSWORD would otherwise go to every broker listed. A listed
// context that does not resolve is a failure of its own (see source.Source),
// not the end of the others.
func lagTargets(f *Factory, all bool) (targets []broker.Target, unresolved []lag.Failure, multi bool, err error) {
	cfg, _, err := f.Config()
	if err != nil {
		return nil, nil, false, err
	}
	var names []string
	switch {
	case all:
		for _, c := range cfg.Contexts {
			names = append(names, c.Name)
		}
		if len(names) == 0 {
			return nil, nil, true, mqerr.Usagef("--all-contexts: no contexts in the config file (see 'mqctl context add')")
		}
	case strings.Contains(f.Global.Context, ","):
		names = strings.Split(f.Global.Context, ",")
	default:
		t, err := f.targetIn(cfg)
		if err != nil {
			return nil, nil, false, err
		}
		return []broker.Target{t}, nil, false, nil
	}
	var firstErr error
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			return nil, nil, true, mqerr.Usagef("-c %q: an empty context name (contexts are separated by commas)", f.Global.Context)
		}
		t, err := f.contextTarget(cfg, n)
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
			unresolved = append(unresolved, lag.NewFailure(n, err))
			continue
		}
		targets = append(targets, t)
	}
	if len(targets) == 0 {
		return nil, nil, true, firstErr
	}
	return targets, unresolved, true, nil
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
	q := broker.LagQuery{Match: match, TimeLag: o.timeLag || o.th.WarnTime > 0 || o.th.CritTime > 0}
	if !o.regex {
		q.Names = names
	}
	return source.New(source.Config{Targets: targets, Unresolved: unresolved, Multi: multi,
		Names: names, Regex: o.regex, Query: q, TimeLagFlag: o.timeLagFlag(), Warnf: f.Warnf}), nil
}

// printLag renders rows; statuses come with --watch, rep with several
// contexts.
func printLag(f *Factory, format output.Format, rows []lag.Row, statuses map[string]lag.Status, rep *source.Report) error {
	var failures []lag.Failure
	if rep != nil {
		failures = rep.Failures
	}
	switch format.Name {
	case "prometheus":
		if err := lag.Prometheus(output.TextOut(f.IO), rows); err != nil {
			return err
		}
		if rep != nil {
			return lag.ContextUp(output.TextOut(f.IO), rep.Up)
		}
		return nil
	case "json":
		return lag.WriteJSONReport(f.IO.Out, rows, failures)
	case "jsonl":
		return lag.WriteJSONLReport(f.IO.Out, rows, failures)
	case "yaml":
		entries := make([]any, 0, len(rows)+len(failures))
		for _, r := range rows {
			entries = append(entries, r)
		}
		for _, fl := range failures {
			entries = append(entries, fl)
		}
		return output.List(f.IO, format, entries, nil)
	case "table":
		t, _ := lagTable(f, format, rows, statuses, 0)
		return output.PrintTable(f.IO, t)
	}
	return output.List(f.IO, format, rows, nil)
}

// lagTable shapes rows as a table. On a terminal, unless -o wide, it fits
// the terminal's width as it is now, and its height less reserved lines
// when height is above 0 (a watch); see lag.Layout for what gives way.
func lagTable(f *Factory, format output.Format, rows []lag.Row, statuses map[string]lag.Status, reserved int) (output.Table, output.Fitted) {
	h, cells := lag.Table(rows, statuses)
	t := output.Table{Header: h, Rows: cells}
	if f.IO.Color {
		t.Colors = colorStatus(h, cells)
	}
	width, height := f.IO.TermSize()
	if format.Wide || width == 0 {
		return t, output.Fitted{}
	}
	short, drop, shorten := lag.Layout(rows, statuses)
	fit := output.Fit{Width: width, Abbrev: short, Drop: drop, Shorten: shorten}
	if reserved > 0 {
		fit.Height = max(height-reserved, 2)
	}
	return output.FitTable(t, fit)
}

// statsNotes says on stderr which RabbitMQ counts are unknown or were
// behind the data, and what to do about it.
func statsNotes(f *Factory, rows []lag.Row) {
	if note := statsNote(rows, "mqctl lag QUEUE"); note != "" {
		fmt.Fprintf(f.IO.Err, "mqctl: note: %s\n", note)
	}
}

// statsNote is that note, "" when every count is current; hint is the
// command that reads a named queue exactly.
func statsNote(rows []lag.Row, hint string) string {
	var absent, behind []string
	for _, r := range rows {
		switch r.Stats {
		case lag.StatsAbsent:
			absent = append(absent, r.Queue)
		case lag.StatsBehind:
			behind = append(behind, r.Queue)
		}
	}
	var parts []string
	if len(absent) > 0 {
		parts = append(parts, fmt.Sprintf("the RabbitMQ management API has no figures yet for %s (? in the table); name them (%s) to read their depth over AMQP", quoteList(absent), hint))
	}
	if len(behind) > 0 {
		parts = append(parts, fmt.Sprintf("the RabbitMQ management API's figures for %s were behind: their ready counts and consumers were read over AMQP, unacked counts and rates are as old as its last sample", quoteList(behind)))
	}
	return strings.Join(parts, "; ")
}

// quoteList quotes up to 5 names and counts the rest.
func quoteList(names []string) string {
	const most = 5
	var quoted []string
	for _, n := range names[:min(len(names), most)] {
		quoted = append(quoted, strconv.Quote(n))
	}
	if len(names) > most {
		quoted = append(quoted, fmt.Sprintf("%d more", len(names)-most))
	}
	return strings.Join(quoted, ", ")
}

// statusColors are ANSI colours for the evaluation codes on a terminal.
var statusColors = map[string]string{
	string(lag.OK): "32", string(lag.Warn): "33", string(lag.Stall): "31",
	string(lag.Stop): "31;1", string(lag.Rewind): "35",
}

// colorStatus gives the STATUS column its colours (output.Table.Colors);
// NO_COLOR and --no-color turn it off.
func colorStatus(header []string, cells [][]string) [][]string {
	col := slices.Index(header, "STATUS")
	if col < 0 {
		return nil
	}
	colors := make([][]string, len(cells))
	for i, row := range cells {
		colors[i] = make([]string, len(row))
		colors[i][col] = statusColors[row[col]]
	}
	return colors
}

// watchTitleLines are the lines a watch on a terminal prints above the
// table (title and a blank line), plus the line the cursor rests on.
const watchTitleLines = 3

// lagWatch refreshes until interrupted, redrawing in place on a terminal,
// and ends with the interrupt (exit 130).
func lagWatch(ctx context.Context, f *Factory, src *source.Source, o *LagOptions, format output.Format) error {
	return src.Watch(ctx, o.samples, o.interval,
		func(err error) { f.Warnf("%v (retrying every %s)", err, o.interval) },
		func(r source.Refresh) error {
			return printWatch(f, format, o, r.Now, r.Rows, r.Statuses, r.Report)
		})
}

// printWatch draws one refresh: on a terminal in place, fitted to the
// window's size as it is now, with what did not fit said in the title.
func printWatch(f *Factory, format output.Format, o *LagOptions, now time.Time, rows []lag.Row, statuses map[string]lag.Status, rep *source.Report) error {
	if !f.IO.OutTTY || format.Name != "table" {
		return printLag(f, format, rows, statuses, rep)
	}
	t, fitted := lagTable(f, format, rows, statuses, watchTitleLines)
	title := fmt.Sprintf("mqctl lag --watch every %s, window %d; %s", o.interval, o.samples, now.Format("15:04:05"))
	if rep != nil && len(rep.Failures) > 0 {
		title += "; no answer from " + source.FailedNames(rep.Failures)
	}
	if n := len(fitted.Dropped); n > 0 {
		title += fmt.Sprintf("; %d columns hidden (-o wide)", n)
	}
	if slices.ContainsFunc(rows, func(r lag.Row) bool { return !r.CountsKnown() }) {
		title += "; ? = no RabbitMQ figures yet"
	}
	var b strings.Builder
	b.WriteString("\033[H\033[2J")
	width, _ := f.IO.TermSize()
	if width > 0 {
		title = output.FitLine(title, width)
	}
	b.WriteString(title + "\n\n")
	if _, err := io.WriteString(f.IO.Out, b.String()); err != nil {
		return err
	}
	if err := output.PrintTable(f.IO, t); err != nil {
		return err
	}
	if fitted.RowsLeft > 0 {
		_, err := fmt.Fprintf(f.IO.Out, "… %d more rows (NAMEs narrow the list)\n", fitted.RowsLeft)
		return err
	}
	return nil
}

// lagCheck prints the Nagios status line first and exits with its code.
func lagCheck(ctx context.Context, f *Factory, src *source.Source, o *LagOptions) error {
	res, err := src.Check(ctx, o.th, o.samples, o.interval)
	if err != nil {
		return err
	}
	fmt.Fprintln(f.IO.Out, res.Line)
	if f.Global.Verbose > 0 {
		h, cells := lag.Table(res.Rows, res.Statuses)
		_ = output.PrintTable(f.IO, output.Table{Header: h, Rows: cells})
	}
	if res.Status == nagios.OK {
		return nil
	}
	return &exitError{code: res.Status.Code()}
}
