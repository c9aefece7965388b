package cmd

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/dlq"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// dlqMoveOptions are the flags of replay, move and purge.
type dlqMoveOptions struct {
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
}

func (o *dlqMoveOptions) registerCommon(c *cobra.Command) {
	fl := c.Flags()
	o.filter.register(fl)
	fl.Int64Var(&o.limit, "limit", 0, "at most this many dead letters (0: all that are there at the start)")
	fl.Float64Var(&o.rate, "rate", 0, "at most this many per second (0: unlimited)")
	fl.BoolVar(&o.dryRun, "dry-run", false, "say what would happen to each dead letter; change nothing")
	fl.BoolVar(&o.yes, "yes", false, "do not ask for confirmation (required without a terminal)")
	fl.StringVar(&o.group, "group", "mqctl-dlq", "Kafka: the consumer group whose commits mark dead letters done, so a rerun resumes")
	fl.IntVar(&o.inFlight, "in-flight", 1000, "dead letters forwarded but not yet confirmed, at most")
	fl.BoolVar(&o.progress, "progress", true, "show progress on a terminal")
}

func newDLQReplayCmd(f *Factory) *cobra.Command {
	o := &dlqMoveOptions{}
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
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return dlqMove(cmd.Context(), f, o, args[0], "replay")
		},
	}
	o.registerCommon(c)
	c.Flags().StringVar(&o.to, "to", "", "send everything here instead of each dead letter's origin")
	c.Flags().IntVar(&o.maxReplays, "max-replays", 0, "dead letters replayed this often already are parked or left (0: no limit)")
	c.Flags().StringVar(&o.park, "park", "", "with --max-replays: send those dead letters here, unchanged")
	return c
}

func newDLQMoveCmd(f *Factory) *cobra.Command {
	o := &dlqMoveOptions{}
	c := &cobra.Command{
		Use:   "move SOURCE --to DEST",
		Short: "Move dead letters to another destination, context or broker with confirm-before-ack",
		Long: `Move the dead letters of SOURCE to DEST, on the same context or on --to-context, even on another
broker (a Kafka DLQ topic into a RabbitMQ queue). Each one is removed from SOURCE only after DEST
confirmed it. They move unchanged: death headers travel along as headers. On RabbitMQ DEST is a
queue; on Kafka a topic; on NATS a subject a JetStream stream captures.`,
		Example: `  mqctl dlq move orders.DLT --to-context prod-rabbit --to orders.dlq
  mqctl dlq move orders.dlq --to orders.archive --older-than 7d --yes`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return dlqMove(cmd.Context(), f, o, args[0], "move")
		},
	}
	o.registerCommon(c)
	c.Flags().StringVar(&o.to, "to", "", "destination (required)")
	c.Flags().StringVar(&o.toContext, "to-context", "", "context of the destination (default: the source's)")
	_ = c.MarkFlagRequired("to")
	_ = c.RegisterFlagCompletionFunc("to-context", completeContextNames(f))
	return c
}

func newDLQPurgeCmd(f *Factory) *cobra.Command {
	o := &dlqMoveOptions{}
	c := &cobra.Command{
		Use:   "purge SOURCE",
		Short: "Delete dead letters, all or those matching filters, after exporting them if asked",
		Long: `Delete the dead letters of SOURCE. Without filters: everything it holds at the start (RabbitMQ
queue.purge, Kafka DeleteRecords up to the end offsets, JetStream stream purge up to the last
sequence). With filters only the matching ones go; the others stay (RabbitMQ: moved to the tail
in their order; JetStream: untouched). Kafka cannot delete single records, so it refuses filters.

--export FILE first writes each dead letter to FILE as jsonl and syncs it to disk, and only then
deletes it; 'mqctl produce --format jsonl --file FILE' restores them. On a terminal you type the
source's name to confirm; without one --yes is required.`,
		Example: `  mqctl dlq purge orders.dlq --export orders-dlq.jsonl
  mqctl dlq purge orders.dlq --reason expired --yes
  mqctl dlq purge ORDERS_DLQ --dry-run`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return dlqPurge(cmd.Context(), f, o, args[0])
		},
	}
	o.registerCommon(c)
	c.Flags().StringVar(&o.export, "export", "", "write the dead letters to this new file as jsonl before deleting them")
	return c
}

func (o *dlqMoveOptions) check() error {
	switch {
	case o.limit < 0:
		return mqerr.Usagef("--limit %d: want 0 (all) or more", o.limit)
	case o.rate < 0:
		return mqerr.Usagef("--rate %g: want 0 (unlimited) or more", o.rate)
	case o.inFlight < 1:
		return mqerr.Usagef("--in-flight %d: want 1 or more", o.inFlight)
	case o.maxReplays < 0:
		return mqerr.Usagef("--max-replays %d: want 0 (no limit) or more", o.maxReplays)
	case o.park != "" && o.maxReplays == 0:
		return mqerr.Usagef("--park goes with --max-replays N")
	}
	return nil
}

// dlqMove is replay and move: the same loop, shaped differently.
func dlqMove(ctx context.Context, f *Factory, o *dlqMoveOptions, name, verb string) error {
	if err := o.check(); err != nil {
		return err
	}
	filter, err := o.filter.filter()
	if err != nil {
		return err
	}
	src, err := openDLQSource(ctx, f, name)
	if err != nil {
		return err
	}
	defer src.Close()
	if !o.dryRun {
		if err := requireWritable(src.target, "dlq "+verb); err != nil {
			return err
		}
	}
	dst, dstTarget := src.conn, src.target
	if o.toContext != "" {
		conn, t, err := f.OpenContext(ctx, o.toContext)
		if err != nil {
			return fmt.Errorf("--to-context %s: %w", o.toContext, err)
		}
		defer conn.Close()
		if !o.dryRun {
			if err := requireWritable(t, "dlq "+verb); err != nil {
				return err
			}
		}
		dst, dstTarget = conn, t
	}
	run := dlq.Options{Broker: src.broker(), Filter: filter, Limit: o.limit, Rate: o.rate, MaxReplays: o.maxReplays,
		DryRun: o.dryRun, DryRunOut: f.IO.Out, Logf: f.Warnf, Skip: dlq.SkipFor(src.broker(), nil), Verb: verb}
	if !o.dryRun {
		question := fmt.Sprintf("%s the dead letters of %s (%s) to %s?", verb, name, src.target.Redacted(), orOrigin(o.to))
		if err := confirm(f, o.yes, question, name); err != nil {
			return err
		}
		p, err := openForwardProducer(ctx, dst, dstTarget, o.inFlight)
		if err != nil {
			return err
		}
		defer p.Close()
		getter, _ := src.conn.(broker.MessageGetter)
		shape := dlq.Replay
		if verb == "move" {
			shape = dlq.AsIs
		}
		run.Forward = &dlq.Publisher{Shape: shape, Source: src.broker(), Target: dst.Broker(), Producer: p, To: o.to, Getter: getter}
		if o.park != "" {
			run.Park = &dlq.Publisher{Shape: dlq.AsIs, Source: src.broker(), Target: dst.Broker(), Producer: p, To: o.park}
		}
		if src.broker() == "rabbitmq" {
			rp := p
			if dst != src.conn {
				if rp, err = openForwardProducer(ctx, src.conn, src.target, o.inFlight); err != nil {
					return err
				}
				defer rp.Close()
			}
			run.Skip = rotateSkip(name, rp)
		}
	}
	// Opened last: a RabbitMQ consumer takes deliveries at once and a Kafka
	// one joins the group, neither of which a refused run should cause.
	c, err := src.consumer(ctx, f, o.dryRun, o.group, o.inFlight)
	if err != nil {
		return err
	}
	return runDLQ(ctx, f, c, run, map[string]string{"replay": "replayed", "move": "moved"}[verb], src.target, o.progress)
}

func orOrigin(to string) string {
	if to == "" {
		return "where each came from"
	}
	return to
}

// rotateSkip passes over a RabbitMQ dead letter by sending it to the tail
// of its queue name through p (see dlq.SkipFor).
func rotateSkip(name string, p broker.Producer) func(context.Context, *broker.Delivery) error {
	return dlq.SkipFor("rabbitmq", &dlq.Publisher{Shape: dlq.AsIs, Source: "rabbitmq", Target: "rabbitmq", Producer: p, To: name})
}

// openForwardProducer opens a producer that sends each message where it
// says (PerMessageDestination), with confirms.
func openForwardProducer(ctx context.Context, conn broker.Conn, t broker.Target, inFlight int) (broker.Producer, error) {
	pub, err := broker.As[broker.Publisher](conn, "publishing")
	if err != nil {
		return nil, err
	}
	pctx, cancel := withTimeout(ctx, t)
	defer cancel()
	return pub.NewProducer(pctx, broker.ProducerOptions{PerMessageDestination: true, InFlight: inFlight, Mandatory: true, Persistent: true})
}

// runDLQ runs the loop with a progress line and prints the summary.
func runDLQ(ctx context.Context, f *Factory, c broker.Consumer, run dlq.Options, verb string, t broker.Target, progress bool) error {
	st := &dlq.MoveStats{}
	stop := startProgress(f, progress && !run.DryRun, func(el time.Duration) string {
		return fmt.Sprintf("read %d  %s %d  skipped %d  failed %d  %.0f/s", st.Read.Load(), verb, st.Forwarded.Load(),
			st.Skipped.Load(), st.Failed.Load(), float64(st.Forwarded.Load())/el.Seconds())
	})
	start := time.Now()
	err := dlq.Run(ctx, c, st, run)
	stop()
	if run.DryRun {
		verb = "would be " + verb
	}
	fmt.Fprintf(f.IO.Err, "mqctl: %s\n", st.Summary(verb, time.Since(start)))
	return broker.Scrub(err, t.Secrets()...)
}

func dlqPurge(ctx context.Context, f *Factory, o *dlqMoveOptions, name string) error {
	if err := o.check(); err != nil {
		return err
	}
	filter, err := o.filter.filter()
	if err != nil {
		return err
	}
	var export *os.File
	if o.export != "" && !o.dryRun {
		// Never overwrite: an earlier export may be the only copy left.
		if export, err = os.OpenFile(o.export, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
			return mqerr.Usagef("--export: %v", err)
		}
		defer export.Close()
	}
	src, err := openDLQSource(ctx, f, name)
	if err != nil {
		return err
	}
	defer src.Close()
	b := src.broker()
	if !filter.Empty() && b == "kafka" {
		return mqerr.Usagef("purge by filter is not supported on Kafka: records can only be deleted up to an offset; purge all, or replay/move the ones you want first")
	}
	if !o.dryRun {
		if err := requireWritable(src.target, "dlq purge"); err != nil {
			return err
		}
		if err := confirm(f, o.yes, fmt.Sprintf("Delete the dead letters of %s (%s)?", name, src.target.Redacted()), name); err != nil {
			return err
		}
	}
	purger, _ := src.conn.(broker.Purger)
	// Everything, nothing to export: the broker's own purge.
	if filter.Empty() && export == nil && !o.dryRun && o.limit == 0 {
		if purger == nil {
			return mqerr.Usagef("purge is not supported on %s", b)
		}
		pctx, cancel := withTimeout(ctx, src.target)
		defer cancel()
		n, err := purger.Purge(pctx, broker.PurgeRequest{Dest: name})
		if err != nil {
			return err
		}
		fmt.Fprintf(f.IO.Err, "mqctl: purged %d dead letters from %s\n", n, name)
		return nil
	}
	// Kafka and JetStream without filters: export by reading, then purge
	// exactly up to what was exported.
	purgeAfter := filter.Empty() && b != "rabbitmq" && !o.dryRun
	c, err := src.consumer(ctx, f, o.dryRun || purgeAfter, o.group, o.inFlight)
	if err != nil {
		return err
	}
	run := dlq.Options{Broker: b, Filter: filter, Limit: o.limit, Rate: o.rate, DryRun: o.dryRun, DryRunOut: f.IO.Out,
		Logf: f.Warnf, Skip: dlq.SkipFor(b, nil), Forward: dlq.Discard{}, Verb: "purge"}
	exporter := &dlq.Exporter{Broker: b, File: export, Batch: o.inFlight}
	if export != nil || purgeAfter {
		run.Forward = exporter
	}
	if b == "rabbitmq" && !o.dryRun {
		rp, err := openForwardProducer(ctx, src.conn, src.target, o.inFlight)
		if err != nil {
			c.Close()
			return err
		}
		defer rp.Close()
		run.Skip = rotateSkip(name, rp)
	}
	verb := "purged"
	if purgeAfter {
		verb = "read"
		if export != nil {
			verb = "exported"
		}
	}
	if err := runDLQ(ctx, f, c, run, verb, src.target, o.progress); err != nil || !purgeAfter {
		return err
	}
	if purger == nil {
		return mqerr.Usagef("purge is not supported on %s", b)
	}
	if len(exporter.Last) == 0 {
		fmt.Fprintf(f.IO.Err, "mqctl: nothing to purge in %s\n", name)
		return nil
	}
	pctx, cancel := withTimeout(ctx, src.target)
	defer cancel()
	n, err := purger.Purge(pctx, broker.PurgeRequest{Dest: name, Before: exporter.Last})
	if err != nil {
		if export != nil {
			return fmt.Errorf("exported to %s, but the purge failed: %w", o.export, err)
		}
		return err
	}
	fmt.Fprintf(f.IO.Err, "mqctl: purged %d dead letters from %s\n", n, name)
	if export != nil {
		fmt.Fprintf(f.IO.Err, "mqctl: they are in %s; 'mqctl produce --format jsonl --file %s' restores them\n", o.export, o.export)
	}
	return nil
}
