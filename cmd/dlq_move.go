package cmd

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/dlq"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

// DLQMoveOptions is what `dlq replay`, `dlq move` and `dlq purge` need
// once their flags are parsed and checked.
type DLQMoveOptions struct {
	IO  *output.Streams
	Ctx context.Context
	dlqConn
	// OpenContext connects to --to-context.
	OpenContext func(ctx context.Context, name string) (broker.Conn, broker.Target, error)
	f           *Factory // progress line, --url

	Verb   string // "replay", "move", "purge"
	Source string
	Filter *dlq.Filter

	filter     dlqFilterFlags
	to         string
	toContext  string
	limit      int64
	rate       float64
	dryRun     bool
	yes        bool
	maxReplays int
	park       string
	group      string
	inFlight   int
	progress   bool
	export     string
	changed    func(name string) bool
}

func newDLQMoveOptions(f *Factory, verb string) *DLQMoveOptions {
	return &DLQMoveOptions{IO: f.IO, dlqConn: newDLQConn(f), OpenContext: f.OpenContext, f: f, Verb: verb}
}

// runE parses the flags and hands the options to runF, else to run.
func (o *DLQMoveOptions) runE(runF, run func(*DLQMoveOptions) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		o.Ctx, o.Source, o.changed = cmd.Context(), args[0], cmd.Flags().Changed
		if err := o.parse(); err != nil {
			return err
		}
		if runF != nil {
			return runF(o)
		}
		return run(o)
	}
}

func (o *DLQMoveOptions) registerCommon(c *cobra.Command) {
	fl := c.Flags()
	o.filter.register(fl)
	fl.Int64Var(&o.limit, "limit", 0, "at most this many dead letters (0: all that are there at the start)")
	fl.Float64Var(&o.rate, "rate", 0, "at most this many per second (0: unlimited)")
	fl.BoolVar(&o.dryRun, "dry-run", false, "say what would happen to each dead letter; change nothing")
	fl.BoolVar(&o.yes, "yes", false, "do not ask for confirmation (required without a terminal)")
	fl.IntVar(&o.inFlight, "in-flight", 1000, "dead letters forwarded but not yet confirmed, at most")
	fl.BoolVar(&o.progress, "progress", true, "show progress on a terminal")
}

// registerGroup adds --group to replay and move; purge reads Kafka
// without a group, as it deletes up to what it read.
func (o *DLQMoveOptions) registerGroup(c *cobra.Command) {
	c.Flags().StringVar(&o.group, "group", "mqctl-dlq", "Kafka: the consumer group whose commits mark dead letters done, so a rerun (and a dry run) starts after them")
}

// NewCmdDLQReplay builds `dlq replay`; runF, when given, receives the
// options instead of the run.
func NewCmdDLQReplay(f *Factory, runF func(*DLQMoveOptions) error) *cobra.Command {
	o := newDLQMoveOptions(f, "replay")
	c := &cobra.Command{
		Use:   "replay SOURCE",
		Short: "Send dead letters back where they came from, acking each only after the target confirmed it",
		Long: `Send each dead letter of SOURCE back to where it came from (or to --to DEST) with confirms, and
remove it from SOURCE only after the target confirmed: a RabbitMQ ack, a Kafka commit in --group,
a JetStream delete. The depth at the start is the most that is read, so dead letters that die again
meanwhile are not replayed in a loop; run it again to replay those.

The replay carries the message's key, value, message id and user headers; broker death headers
(x-death, x-first-death-*, x-last-death-*), Spring/Connect error headers and mqctl's mq-death-* and
mq-original-* are removed, and mq-replay-count is set to one more than before. With --max-replays N
a dead letter replayed N times already goes to --park DEST, or stays where it is.

Into JetStream the copy's Nats-Msg-Id names its dead letter, <id>:replay:<n>:<where it was>
(e.g. order-5:replay:1:DEAD_LETTERS:17), and its first id travels in the header mq-msg-id: a
rerun of an interrupted replay is de-duplicated by the stream, a later replay of a message that
died again is not. Nats-Expected-* and Nats-Rollup are not sent again.

--dry-run reads what the real run would (Kafka: from --group's commits; RabbitMQ: the messages
are held and returned, which marks them redelivered) and lists what it would do with each.

RabbitMQ: dead letters go back to the queue they died in (through the default exchange); --to names
a queue. Dead letters that the filters pass over go to the tail of SOURCE (confirmed, then acked),
so the others keep their order. Kafka: --to names a topic; records passed over are committed in
--group (they stay in the topic). JetStream: dead letters of an advisory stream are followed to the
message they point to; those whose message is gone are reported and left.

Exit 0 when every selected dead letter was replayed, 3 when one failed (the run stops there; the
failed one and the rest stay in SOURCE), 130 when interrupted (in-flight confirms are awaited).`,
		Example: `  mqctl dlq replay orders.dlq --dry-run
  mqctl dlq replay orders.DLT --reason 'timeout' --older-than 10m --yes
  mqctl dlq replay orders.dlq --max-replays 3 --park orders.parked --rate 200`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNames(f, broker.NamesDestinations, 1),
		RunE:              o.runE(runF, dlqMoveRun),
	}
	o.registerCommon(c)
	o.registerGroup(c)
	c.Flags().StringVar(&o.to, "to", "", "send everything here instead of each dead letter's origin")
	c.Flags().IntVar(&o.maxReplays, "max-replays", 0, "dead letters replayed this often already are parked or left (0: no limit)")
	c.Flags().StringVar(&o.park, "park", "", "with --max-replays: send those dead letters here, unchanged")
	nonEmpty(c.Flags(), "to", "park")
	return c
}

// NewCmdDLQMove builds `dlq move`; runF, when given, receives the options
// instead of the run.
func NewCmdDLQMove(f *Factory, runF func(*DLQMoveOptions) error) *cobra.Command {
	o := newDLQMoveOptions(f, "move")
	c := &cobra.Command{
		Use:   "move SOURCE --to DEST",
		Short: "Move dead letters to another destination, context or broker with confirm-before-ack",
		Long: `Move the dead letters of SOURCE to DEST, on the same context or on --to-context, even on another
broker (a Kafka DLQ topic into a RabbitMQ queue). Each one is removed from SOURCE only after DEST
confirmed it. They move unchanged: death headers travel along as headers. On RabbitMQ DEST is a
queue; on Kafka a topic; on NATS a subject a JetStream stream captures (the copy's Nats-Msg-Id is
<id>:move:<n>:<where it was>, its first id in mq-msg-id; see 'dlq replay --help').`,
		Example: `  mqctl dlq move orders.DLT --to-context prod-rabbit --to orders.dlq
  mqctl dlq move orders.dlq --to orders.archive --older-than 168h --yes`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNames(f, broker.NamesDestinations, 1),
		RunE:              o.runE(runF, dlqMoveRun),
	}
	o.registerCommon(c)
	o.registerGroup(c)
	c.Flags().StringVar(&o.to, "to", "", "destination (required)")
	c.Flags().StringVar(&o.toContext, "to-context", "", "context of the destination (default: the source's)")
	_ = c.MarkFlagRequired("to")
	nonEmpty(c.Flags(), "to", "to-context")
	_ = c.RegisterFlagCompletionFunc("to-context", completeContextNames(f))
	return c
}

// parse checks the flags against each other, before any connection.
func (o *DLQMoveOptions) parse() (err error) {
	switch {
	case o.limit < 0:
		return mqerr.Usagef("--limit %d: want 0 (all) or more", o.limit)
	case !(o.rate >= 0):
		return mqerr.Usagef("--rate %g: want 0 (unlimited) or more", o.rate)
	case o.inFlight < 1:
		return mqerr.Usagef("--in-flight %d: want 1 or more", o.inFlight)
	case o.maxReplays < 0:
		return mqerr.Usagef("--max-replays %d: want 0 (no limit) or more", o.maxReplays)
	case o.park != "" && o.maxReplays == 0:
		return mqerr.Usagef("--park goes with --max-replays N")
	}
	if o.Filter, err = o.filter.filter(); err != nil {
		return err
	}
	if o.export != "" && !o.dryRun {
		return dlq.CheckExportPath(o.export)
	}
	return nil
}

// job is the part of a dlq.Job the options give.
func (o *DLQMoveOptions) job(src *dlq.Source) dlq.Job {
	return dlq.Job{Source: src, Filter: o.Filter, Limit: o.limit, Rate: o.rate, InFlight: o.inFlight,
		DryRun: o.dryRun, DryRunOut: dryRunOut(o.IO), Err: o.IO.Err,
		Confirm: func(q string) error { return confirm(o.IO, o.yes, q, o.Source) },
		Progress: func(line func(elapsed time.Duration) string) func() {
			return startProgress(o.f, o.progress, line)
		}}
}

// dlqMoveRun is replay and move: the same loop, shaped differently.
func dlqMoveRun(o *DLQMoveOptions) error {
	src, err := o.openSource(o.Ctx, o.Source)
	if err != nil {
		return err
	}
	defer src.Conn.Close()
	if err := refuseFlags(src, o.changed, "group"); err != nil {
		return err
	}
	if err := src.CheckHeld("in-flight", o.inFlight); err != nil {
		return err
	}
	if !o.dryRun {
		if err := requireWritable(src.Target, "dlq "+o.Verb); err != nil {
			return err
		}
	}
	j := &dlq.MoveJob{Job: o.job(src), Verb: o.Verb, To: o.to, Park: o.park, Group: o.group, MaxReplays: o.maxReplays}
	if o.toContext != "" {
		conn, t, err := o.OpenContext(o.Ctx, o.toContext)
		if err != nil {
			return fmt.Errorf("--to-context %s: %w", o.toContext, err)
		}
		defer conn.Close()
		if !o.dryRun {
			if err := requireWritable(t, "dlq "+o.Verb); err != nil {
				return err
			}
		}
		j.Dest, j.DestTarget = conn, t
	}
	return j.Run(o.Ctx)
}

// dryRunOut is where a dry run lists what it would do: stdout, with each
// line made safe for a terminal, as the lines name destinations and
// reasons that come from the messages.
func dryRunOut(s *output.Streams) io.Writer {
	if !s.OutTTY {
		return s.Out
	}
	return safeLines{s.Out}
}

// safeLines writes what it is given through output.TerminalSafe, keeping
// a final newline. dlq.Run writes each dry-run line in one call.
type safeLines struct{ w io.Writer }

func (s safeLines) Write(p []byte) (int, error) {
	text, nl := strings.CutSuffix(string(p), "\n")
	out := output.TerminalSafe(text)
	if nl {
		out += "\n"
	}
	if _, err := io.WriteString(s.w, out); err != nil {
		return 0, err
	}
	return len(p), nil
}
