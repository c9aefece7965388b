package cmd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

type lagOptions struct {
	regex       bool
	allContexts bool
	timeLag     bool
	watch       bool
	interval    time.Duration
	check       bool
	samples     int
	th          lag.Thresholds
}

func newLagCmd(f *Factory) *cobra.Command {
	o := &lagOptions{}
	c := &cobra.Command{
		Use:   "lag [NAME...]",
		Short: "Consumer lag and queue depth on Kafka, RabbitMQ and JetStream, with watch and CI checks",
		Long: `Show consumer lag: Kafka groups per topic and partition (committed, end, lag, owner,
state), RabbitMQ queues (ready, unacked, consumers, rates, drain time) and JetStream consumers
(num_pending, ack pending, redelivered, waiting, last activity). NAMEs select groups, queues or
streams (exact, or regular expressions with --regex); all by default.

--watch refreshes every --interval and judges every row over a window of --samples samples:
  OK, WARN (lag grew across the whole window), STALL (offset not moving while lag > 0 and new
  messages arrive), STOP (no progress for the whole window while lag > 0), REWIND (offset went back).

--check exits with the Nagios codes 0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN, printing a status line
first: thresholds --warn/--crit (messages), --warn-time/--crit-time (time lag), and --rules
(sample --samples times every --interval and judge as --watch does; STALL, STOP and REWIND
are CRIT, WARN is WARN).

-o prometheus prints the text exposition format. --all-contexts or -c a,b,c combine contexts.`,
		Example: `  mqctl lag                                  # every group, queue or stream of the context
  mqctl lag orders billing --time-lag
  mqctl lag --all-contexts -o prometheus
  mqctl lag --watch --interval 5s
  mqctl lag billing --check --warn 1000 --crit 10000
  mqctl lag --check --rules --samples 4 --interval 10s -c prod-kafka,prod-nats`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return checkErr(f, o.check, lagRun(cmd.Context(), f, o, args))
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

func lagRun(ctx context.Context, f *Factory, o *lagOptions, names []string) error {
	format, err := f.Format()
	if err != nil {
		return err
	}
	match, err := lagMatcher(names, o.regex)
	if err != nil {
		return err
	}
	if o.samples < 2 {
		return mqerr.Usagef("--samples %d: want 2 or more", o.samples)
	}
	if o.interval <= 0 {
		return mqerr.Usagef("--interval must be positive")
	}
	if o.check {
		if err := o.th.Validate(); err != nil {
			return err
		}
		if o.watch {
			return mqerr.Usagef("--check and --watch exclude each other")
		}
	}
	targets, err := lagTargets(f, o.allContexts)
	if err != nil {
		return err
	}
	q := broker.LagQuery{Match: match, TimeLag: o.timeLag || o.th.WarnTime > 0 || o.th.CritTime > 0}
	src := &lagSource{f: f, targets: targets, query: q, names: names, regex: o.regex}
	defer src.close()

	switch {
	case o.check:
		return lagCheck(ctx, f, src, o)
	case o.watch:
		return lagWatch(ctx, f, src, o, format)
	}
	rows, _, err := src.read(ctx)
	if err != nil {
		return err
	}
	return printLag(f, format, rows, nil)
}

// lagMatcher selects names exactly or by regular expression; nil = all.
func lagMatcher(names []string, regex bool) (func(string) bool, error) {
	if len(names) == 0 {
		return nil, nil
	}
	if !regex {
		set := map[string]bool{}
		for _, n := range names {
			set[n] = true
		}
		return func(s string) bool { return set[s] }, nil
	}
	var res []*regexp.Regexp
	for _, n := range names {
		re, err := regexp.Compile(n)
		if err != nil {
			return nil, mqerr.Usagef("--regex %q: %v", n, err)
		}
		res = append(res, re)
	}
	return func(s string) bool {
		for _, re := range res {
			if re.MatchString(s) {
				return true
			}
		}
		return false
	}, nil
}

// lagTargets resolves one target, the comma-separated -c list, or every
// context of the file, reading the file once. Listed contexts use only
// their own settings, as dlq move --to-context does: MQCTL_USERNAME and
// MQCTL_PASSWORD would otherwise go to every broker listed.
func lagTargets(f *Factory, all bool) ([]broker.Target, error) {
	cfg, _, err := f.Config()
	if err != nil {
		return nil, err
	}
	var names []string
	switch {
	case all:
		for _, c := range cfg.Contexts {
			names = append(names, c.Name)
		}
		if len(names) == 0 {
			return nil, mqerr.Usagef("--all-contexts: no contexts in the config file (see 'mqctl context add')")
		}
	case strings.Contains(f.Global.Context, ","):
		names = strings.Split(f.Global.Context, ",")
	default:
		t, err := f.targetIn(cfg)
		if err != nil {
			return nil, err
		}
		return []broker.Target{t}, nil
	}
	var out []broker.Target
	var firstErr error
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			return nil, mqerr.Usagef("-c %q: an empty context name (contexts are separated by commas)", f.Global.Context)
		}
		t, err := f.contextTarget(cfg, n)
		if err != nil {
			// One broken context must not hide the others.
			f.Warnf("%v", err)
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, firstErr
	}
	return out, nil
}

// lagSource reads lag rows from one or more targets, keeping connections
// open across --watch refreshes.
type lagSource struct {
	f       *Factory
	targets []broker.Target
	query   broker.LagQuery
	names   []string
	regex   bool

	mu    sync.Mutex
	conns map[int]broker.Conn
}

func (s *lagSource) close() {
	for _, c := range s.conns {
		c.Close()
	}
}

// read collects the rows of every target concurrently. With one target its
// error is the command's; with several, a failing context is reported on
// stderr and the others are shown (the check turns it into UNKNOWN).
func (s *lagSource) read(ctx context.Context) (rows []lag.Row, failed []string, err error) {
	type result struct {
		rows []lag.Row
		err  error
	}
	results := make([]result, len(s.targets))
	var wg sync.WaitGroup
	for i, t := range s.targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows, err := s.readOne(ctx, i, t)
			results[i] = result{rows, err}
		}()
	}
	wg.Wait()
	if len(results) == 1 {
		// Its error is the command's, and its rows (50,000 at times)
		// need no copy.
		if err := results[0].err; err != nil {
			return nil, nil, err
		}
		lag.Sort(results[0].rows)
		return results[0].rows, nil, nil
	}
	for i, r := range results {
		if r.err != nil {
			name := s.targets[i].Context
			s.f.Warnf("context %s: %v", name, r.err)
			failed = append(failed, name)
			continue
		}
		rows = append(rows, r.rows...)
	}
	if len(failed) == len(s.targets) {
		return nil, failed, fmt.Errorf("no context answered: %s", strings.Join(failed, ", "))
	}
	lag.Sort(rows)
	return rows, failed, nil
}

func (s *lagSource) readOne(ctx context.Context, i int, t broker.Target) ([]lag.Row, error) {
	s.mu.Lock()
	conn := s.conns[i]
	s.mu.Unlock()
	if conn == nil {
		c, err := broker.Open(ctx, t)
		if err != nil {
			return nil, err
		}
		conn = c
		s.mu.Lock()
		if s.conns == nil {
			s.conns = map[int]broker.Conn{}
		}
		s.conns[i] = conn
		s.mu.Unlock()
	}
	reader, err := broker.As[broker.LagReader](conn, "lag")
	if err != nil {
		return nil, err
	}
	rctx, cancel := withTimeout(ctx, t)
	defer cancel()
	rows, err := reader.Lag(rctx, s.query)
	if err != nil {
		// A fresh bound: a management API timeout used up rctx.
		fctx, fcancel := withTimeout(ctx, t)
		defer fcancel()
		rows, err = s.fallback(fctx, conn, err)
	}
	if err != nil {
		return nil, broker.Scrub(err, t.Secrets()...)
	}
	for j := range rows {
		if len(s.targets) > 1 || t.Context != "" {
			rows[j].Context = t.Context
		}
	}
	return rows, nil
}

// printLag renders rows; statuses come with --watch.
func printLag(f *Factory, format output.Format, rows []lag.Row, statuses map[string]lag.Status) error {
	switch format.Name {
	case "prometheus":
		return lag.Prometheus(f.IO.Out, rows)
	case "json":
		return lag.WriteJSON(f.IO.Out, rows)
	case "jsonl":
		return lag.WriteJSONL(f.IO.Out, rows)
	}
	return output.List(f.IO, format, rows, func(rs []lag.Row) output.Table {
		h, cells := lag.Table(rs, statuses)
		if f.IO.Color {
			colorStatus(h, cells)
		}
		return output.Table{Header: h, Rows: cells}
	})
}

// statusColors are ANSI colours for the evaluation codes on a terminal.
var statusColors = map[string]string{
	string(lag.OK): "32", string(lag.Warn): "33", string(lag.Stall): "31",
	string(lag.Stop): "31;1", string(lag.Rewind): "35",
}

// colorStatus paints the STATUS column; NO_COLOR and --no-color turn it off.
func colorStatus(header []string, cells [][]string) {
	col := slices.Index(header, "STATUS")
	if col < 0 {
		return
	}
	for _, row := range cells {
		if c, ok := statusColors[row[col]]; ok {
			row[col] = "\033[" + c + "m" + row[col] + "\033[0m"
		}
	}
}

// lagWatch refreshes until interrupted, redrawing in place on a terminal.
func lagWatch(ctx context.Context, f *Factory, src *lagSource, o *lagOptions, format output.Format) error {
	win := lag.NewWindow(o.samples)
	span := time.Duration(o.samples-1) * o.interval
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	for {
		rows, _, err := src.read(ctx)
		if ctx.Err() != nil {
			return nil
		}
		now := time.Now()
		if err != nil {
			f.Warnf("%v (retrying every %s)", err, o.interval)
		} else {
			win.Observe(now, rows)
			win.Prune(now.Add(-2 * span))
			if f.IO.OutTTY && format.Name == "table" {
				fmt.Fprint(f.IO.Out, "\033[H\033[2J")
				fmt.Fprintf(f.IO.Out, "mqctl lag --watch every %s, window %d samples; %s\n\n", o.interval, o.samples, now.Format("15:04:05"))
			}
			if err := printLag(f, format, rows, win.Statuses()); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// lagCheck prints the Nagios status line first and exits with its code.
func lagCheck(ctx context.Context, f *Factory, src *lagSource, o *lagOptions) error {
	var rows []lag.Row
	var failed []string
	var statuses map[string]lag.Status
	rounds := 1
	if o.th.Rules {
		rounds = o.samples
	}
	win := lag.NewWindow(o.samples)
	for i := 0; i < rounds; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(o.interval):
			}
		}
		var err error
		rows, failed, err = src.read(ctx)
		if err != nil {
			return err
		}
		win.Observe(time.Now(), rows)
	}
	if o.th.Rules {
		statuses = win.Statuses()
	}
	code, line := lag.Check(rows, o.th, statuses)
	if len(failed) > 0 {
		// A context that did not answer is never OK.
		if code == lag.CheckOK {
			code, line = lag.CheckUnknown, "UNKNOWN "+strings.TrimPrefix(line, "OK ")
		}
		line += "; no answer from " + strings.Join(failed, ", ")
	}
	fmt.Fprintln(f.IO.Out, line)
	if f.Global.Verbose > 0 {
		h, cells := lag.Table(rows, statuses)
		_ = output.PrintTable(f.IO, output.Table{Header: h, Rows: cells})
	}
	if code == 0 {
		return nil
	}
	return &exitError{code: code}
}

// fallback reads destinations by name when the broker cannot list them now
// (RabbitMQ without its management API: AMQP cannot enumerate queues).
func (s *lagSource) fallback(ctx context.Context, conn broker.Conn, err error) ([]lag.Row, error) {
	byName, ok := conn.(broker.NamedLagReader)
	if !ok || !errors.Is(err, broker.ErrCannotList) {
		return nil, err
	}
	if len(s.names) == 0 || s.regex {
		return nil, fmt.Errorf("%w; or name the queues (no --regex) to read their depth over AMQP", err)
	}
	s.f.Warnf("management API unreachable: reading ready and consumers over AMQP (no unacked, no rates)")
	return byName.LagByName(ctx, s.names)
}
