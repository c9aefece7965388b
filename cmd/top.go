package cmd

import (
	"errors"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/audit"
	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
	"github.com/mqctl/mqctl/internal/tui"
	"github.com/mqctl/mqctl/internal/tui/source"
)

// TopOptions is what `mqctl top` needs once its flags are parsed.
type TopOptions struct {
	IO          *output.Streams
	Interval    time.Duration
	AllContexts bool
	ReadOnly    bool
	// Targets resolves the contexts to watch (-c a,b / --all-contexts).
	Targets func() ([]broker.Target, error)
}

// NewCmdTop builds `mqctl top`.
func NewCmdTop(f *Factory, runF func(*TopOptions) error) *cobra.Command {
	opts := &TopOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Live dashboard of destinations, lag and dead letters, with replay and purge",
		Long: `top shows every context given with -c a,b,c (or --all-contexts) live: an overview, destinations
with depth trends, consumers with lag, trend and the lag --watch status, dead-letter queues, and a
message browser that peeks without acking or committing. Keys: 1-5 or : views, / filter, s/S sort,
p pause, r refresh, Enter drill down, Esc back, ? help, q quit.

Enter on a destination or dead-letter queue peeks its messages; on a consumers row it opens the
group's partitions (committed and end offsets, lag, time lag, member and client), the JetStream
consumer's or the queue's counts. TIME is the age of the next message to handle (on RabbitMQ
the oldest ready message's publish timestamp, classic queues only), read as 'mqctl lag
--time-lag' reads it, at most every 5
intervals (10s at least) and aged in between ('≤' once the consumer moved on). STATUS shows
'…2/5' until the lag --watch window is full.

On a dead-letter queue, R replays it (a dry run first says how many go where; y confirms) and X
purges it (type its name to confirm). Both run the code of 'mqctl dlq replay' and 'mqctl dlq purge':
nothing leaves the queue before the broker confirmed its copy, and Esc cancels a run. On a Kafka
group or JetStream durable in the consumers view, O resets its offsets through 'mqctl offsets reset'
(a plan per partition first, y applies it; refused while the group has live members). Every step is
appended to the audit log $XDG_STATE_HOME/mqctl/audit.jsonl (~/.local/state/mqctl/audit.jsonl).
--read-only, or a context marked read-only, refuses them.

Exit codes: 0 after q or SIGTERM, 130 after Ctrl-C or SIGINT, 2 when stdin or stdout is not a
terminal; the terminal is restored (alternate screen left, cursor shown) on each way out.`,
		Example: `  mqctl top
  mqctl top --all-contexts --read-only
  mqctl top -c prod-kafka,prod-rabbit --interval 5s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Interval < 100*time.Millisecond {
				return mqerr.Usagef("--interval %s: at least 100ms", opts.Interval)
			}
			opts.Targets = func() ([]broker.Target, error) {
				ts, unresolved, _, err := lagTargets(f, opts.AllContexts)
				if err != nil {
					return nil, err
				}
				if len(unresolved) > 0 {
					return nil, mqerr.Usagef("context %s: %s", unresolved[0].Context, unresolved[0].Error)
				}
				return ts, nil
			}
			if runF != nil {
				return runF(opts)
			}
			return topRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.DurationVar(&opts.Interval, "interval", 2*time.Second, "time between refreshes of each context")
	fl.BoolVar(&opts.AllContexts, "all-contexts", false, "every context in the config file")
	fl.BoolVar(&opts.ReadOnly, "read-only", false, "hide and refuse replay, purge and offsets reset: top only reads")
	return cmd
}

// topRun runs the dashboard until q, Ctrl-C or a signal. Bubble Tea
// handles SIGINT (exit 130, as Ctrl-C) and SIGTERM (a quit, exit 0)
// itself; the command's context, which the same signals cancel, is not
// passed on, or which of the two saw a SIGINT first would decide between
// 130 and 0.
func topRun(opts *TopOptions) error {
	if !opts.IO.OutTTY || !opts.IO.InTTY {
		return mqerr.Usagef("top needs a terminal on stdin and stdout (use 'mqctl lag --watch' or 'mqctl ls' in scripts)")
	}
	targets, err := opts.Targets()
	if err != nil {
		return err
	}
	src := &source.Brokers{Targets: targets, TimeLagEvery: max(5*opts.Interval, source.DefaultTimeLagEvery)}
	defer src.Close()
	// Without a place for the audit log the actions are refused (the
	// model says why when one is tried); reading goes on.
	var log *audit.Log
	if path, err := audit.DefaultPath(); err == nil {
		log = audit.Open(path)
	}
	m := tui.New(src, tui.Options{Interval: opts.Interval, ReadOnly: opts.ReadOnly, Timeout: targets[0].EffectiveTimeout(), Audit: log})
	profile := colorprofile.ASCII
	if !opts.IO.Color {
		profile = colorprofile.NoTTY
	}
	p := tea.NewProgram(m, tea.WithInput(opts.IO.In), tea.WithOutput(opts.IO.Out), tea.WithColorProfile(profile))
	_, err = tui.Run(p)
	if errors.Is(err, tea.ErrInterrupted) || m.Interrupted() {
		return mqerr.Wrap(mqerr.Interrupted, errors.New("interrupted"))
	}
	return err
}
