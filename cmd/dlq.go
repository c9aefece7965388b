package cmd

import (
	"bufio"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/dlq"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

// The dlq commands parse and check their flags here; what they do is
// internal/dlq's (Peek, Report, List, MoveJob, PurgeJob), which the TUI
// calls too.

func newDLQCmd(f *Factory) *cobra.Command {
	c := &cobra.Command{
		Use:   "dlq",
		Short: "Find, inspect, replay, move and purge dead letters without losing any",
		Long: `Dead letters on all three brokers: RabbitMQ queues behind a dead-letter exchange, Kafka
dead-letter topics (*.DLT, *-dlq, ...), JetStream advisory streams and DLQ streams.

Where a dead letter came from and why it died is read from RabbitMQ x-death, Spring's
kafka_dlt-* headers, Kafka Connect's __connect.errors.* headers, mqctl's own mq-original-* and
mq-death-* headers, or a JetStream MAX_DELIVERIES / MSG_TERMINATED advisory.

replay, move and purge remove a dead letter from its source only after the next step confirmed
it (the target broker's confirm, or the export file synced to disk). They read only what the
source held when they started, so dead letters that die again meanwhile are not replayed in a
loop. A run that crashed or was interrupted is resumed by running it again: nothing is lost,
and duplicates are bounded by the in-flight window.

--check on ls and stats exits with the Nagios codes 0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN.`,
		Example: `  mqctl dlq ls
  mqctl dlq peek orders.DLT -n 5
  mqctl dlq replay orders.DLT --dry-run
  mqctl dlq purge orders.DLT --yes`,
	}
	c.AddCommand(NewCmdDLQLs(f, nil), NewCmdDLQPeek(f, nil), NewCmdDLQStats(f, nil), NewCmdDLQReplay(f, nil), NewCmdDLQMove(f, nil), NewCmdDLQPurge(f, nil))
	return c
}

// dlqFilterFlags are the filters replay, move and purge share.
type dlqFilterFlags struct {
	reason, grep         string
	headers              []string
	olderThan, newerThan time.Duration
	original             string
}

func (o *dlqFilterFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&o.reason, "reason", "", "only dead letters whose reason matches this regular expression (case-insensitive)")
	fl.StringVar(&o.grep, "grep", "", "only dead letters whose value matches this regular expression")
	fl.StringArrayVar(&o.headers, "header", nil, "only dead letters with this header name=value (or name); repeatable")
	fl.DurationVar(&o.olderThan, "older-than", 0, "only dead letters that died longer ago than this")
	fl.DurationVar(&o.newerThan, "newer-than", 0, "only dead letters that died within this")
	fl.StringVar(&o.original, "original", "", "only dead letters from this original topic, queue, subject or stream")
}

func (o *dlqFilterFlags) filter() (*dlq.Filter, error) {
	return dlq.NewFilter(o.grep, o.headers, o.reason, o.olderThan, o.newerThan, o.original, time.Now())
}

// dlqConn is what every dlq command needs to reach its broker: the
// factory's connection functions and its warnings.
type dlqConn struct {
	Open  func(context.Context) (broker.Conn, broker.Target, error)
	Warnf func(format string, args ...any)
}

func newDLQConn(f *Factory) dlqConn { return dlqConn{Open: f.Open, Warnf: f.Warnf} }

// openSource connects and returns the source name there.
func (c dlqConn) openSource(ctx context.Context, name string) (*dlq.Source, error) {
	conn, t, err := c.Open(ctx)
	if err != nil {
		return nil, err
	}
	return dlq.NewSource(conn, t, name, c.Warnf), nil
}

// refuseFlags refuses those of names that were set (changed) but that
// the source's driver does not take (Capabilities.Flags["dlq"]), with the
// one text users see.
func refuseFlags(src *dlq.Source, changed func(string) bool, names ...string) error {
	return src.Caps.CheckFlags("dlq", func(n string) bool { return slices.Contains(names, n) && changed(n) })
}

// checkThresholds refuses --warn and --crit without --check, which would
// be ignored, and bad thresholds with it: one given as 0 (how a limit is
// left unset) would hold for every destination.
func checkThresholds(changed func(string) bool, check bool, th dlq.CheckThresholds) error {
	if !check {
		for _, n := range []string{"warn", "crit"} {
			if changed(n) {
				return mqerr.Usagef("--%s goes with --check", n)
			}
		}
		return nil
	}
	for _, n := range []string{"warn", "crit"} {
		if changed(n) && (n == "warn" && th.Warn == 0 || n == "crit" && th.Crit == 0) {
			return mqerr.Usagef("--%s 0 would hold for every destination (a limit is reached at or above it): want 1 or more (1: any message)", n)
		}
	}
	return th.Validate()
}

// confirm asks before a destructive run: on a terminal the user types
// want (the source's name, or "yes"); without one --yes is required.
func confirm(io *output.Streams, yes bool, question, want string) error {
	if yes {
		return nil
	}
	if !io.InTTY {
		return mqerr.Usagef("%s: pass --yes to confirm (no terminal to ask on)", question)
	}
	fmt.Fprintf(io.Err, "%s\nType %q to go on: ", output.TerminalSafe(question), want)
	line, err := bufio.NewReader(io.In).ReadString('\n')
	if err != nil && line == "" {
		return mqerr.Usagef("not confirmed")
	}
	if strings.TrimSpace(line) != want {
		return mqerr.Usagef("not confirmed: you typed %q, not %q", strings.TrimSpace(line), want)
	}
	return nil
}

// printChecked prints a --check status line, then what print prints, and
// exits with the status's code.
func printChecked(io *output.Streams, code int, line string, print func() error) error {
	if io.OutTTY {
		line = output.TerminalSafe(line)
	}
	fmt.Fprintln(io.Out, line)
	if err := print(); err != nil {
		return err
	}
	return &exitError{code: code}
}
