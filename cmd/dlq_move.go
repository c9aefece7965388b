package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/dlq"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
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
	fl.IntVar(&o.inFlight, "in-flight", 1000, "dead letters forwarded but not yet confirmed, at most")
	fl.BoolVar(&o.progress, "progress", true, "show progress on a terminal")
}

// registerGroup adds --group to replay and move; purge reads Kafka
// without a group, as it deletes up to what it read.
func (o *dlqMoveOptions) registerGroup(c *cobra.Command) {
	c.Flags().StringVar(&o.group, "group", "mqctl-dlq", "Kafka: the consumer group whose commits mark dead letters done, so a rerun (and a dry run) starts after them")
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
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return dlqMove(cmd, f, o, args[0], "replay")
		},
	}
	o.registerCommon(c)
	o.registerGroup(c)
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
queue; on Kafka a topic; on NATS a subject a JetStream stream captures (the copy's Nats-Msg-Id is
<id>:move:<n>:<where it was>, its first id in mq-msg-id; see 'dlq replay --help').`,
		Example: `  mqctl dlq move orders.DLT --to-context prod-rabbit --to orders.dlq
  mqctl dlq move orders.dlq --to orders.archive --older-than 168h --yes`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return dlqMove(cmd, f, o, args[0], "move")
		},
	}
	o.registerCommon(c)
	o.registerGroup(c)
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
deletes it. FILE must not exist; it is created (mode 0600) with the first dead letter, so a run
that reads nothing leaves none. At the end mqctl prints the 'mqctl produce' command that restores
them, ready to paste. On a terminal you type the source's name to confirm; without one --yes is
required.`,
		Example: `  mqctl dlq purge orders.dlq --export orders-dlq.jsonl
  mqctl dlq purge orders.dlq --reason expired --yes
  mqctl dlq purge ORDERS_DLQ --dry-run`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return dlqPurge(cmd, f, o, args[0])
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
	case !(o.rate >= 0):
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

// checkBroker refuses what does not apply to the source's broker.
func (o *dlqMoveOptions) checkBroker(cmd *cobra.Command, brokerName string) error {
	if err := refuseFlags(cmd, brokerName, map[string]string{"group": "kafka"}); err != nil {
		return err
	}
	return checkHeld(brokerName, "in-flight", o.inFlight)
}

// dlqMove is replay and move: the same loop, shaped differently.
func dlqMove(cmd *cobra.Command, f *Factory, o *dlqMoveOptions, name, verb string) error {
	ctx := cmd.Context()
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
	if err := o.checkBroker(cmd, src.broker()); err != nil {
		return err
	}
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
	st := &dlq.MoveStats{}
	run := dlq.Options{Broker: src.broker(), Getter: src.getter(), Filter: filter, Limit: o.limit, Rate: o.rate, MaxReplays: o.maxReplays,
		DryRun: o.dryRun, DryRunOut: dryRunOut(f), Logf: f.Warnf, Skip: dlq.SkipFor(src.broker(), nil), Verb: verb}
	shape := dlq.Replay
	if verb == "move" {
		shape = dlq.AsIs
	}
	// A dry run shapes each dead letter as the real run would, without a
	// producer, to report those the real run would leave.
	forward := &dlq.Publisher{Shape: shape, Source: src.broker(), Target: dst.Broker(), To: o.to, Duplicates: &st.Duplicates}
	run.Forward = forward
	var park *dlq.Publisher
	if o.park != "" {
		park = &dlq.Publisher{Shape: dlq.AsIs, Source: src.broker(), Target: dst.Broker(), To: o.park, Duplicates: &st.Duplicates}
		run.Park = park
	}
	mode, prefetch := readRemove, o.inFlight
	if o.dryRun {
		mode = readDryRun
		if src.broker() == "rabbitmq" {
			// A dry run holds what it reads: to see what the real run
			// would read it needs room for the whole queue.
			prefetch = amqpMaxHeld
		}
	} else {
		question := fmt.Sprintf("%s the dead letters of %s (%s) to %s?", verb, name, src.target.Redacted(), orOrigin(o.to))
		if err := confirm(f, o.yes, question, name); err != nil {
			return err
		}
		p, err := openForwardProducer(ctx, dst, dstTarget, o.inFlight)
		if err != nil {
			return err
		}
		defer p.Close()
		forward.Producer = p
		if park != nil {
			park.Producer = p
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
	c, err := src.consumer(ctx, f, mode, o.group, prefetch)
	if err != nil {
		return err
	}
	return runDLQ(ctx, f, c, run, st, map[string]string{"replay": "replayed", "move": "moved"}[verb], src, o.progress)
}

func orOrigin(to string) string {
	if to == "" {
		return "where each came from"
	}
	return to
}

// dryRunOut is where a dry run lists what it would do: stdout, with each
// line made safe for a terminal, as the lines name destinations and
// reasons that come from the messages.
func dryRunOut(f *Factory) io.Writer {
	if !f.IO.OutTTY {
		return f.IO.Out
	}
	return safeLines{f.IO.Out}
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
func runDLQ(ctx context.Context, f *Factory, c broker.Consumer, run dlq.Options, st *dlq.MoveStats, verb string, src *dlqSource, progress bool) error {
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
	summary := st.Summary(verb, time.Since(start))
	if run.DryRun && src.broker() == "rabbitmq" && st.Read.Load() > 0 {
		summary += fmt.Sprintf("; the %d read went back to %s marked redelivered", st.Read.Load(), src.name)
	}
	fmt.Fprintf(f.IO.Err, "mqctl: %s\n", summary)
	return broker.Scrub(err, src.target.Secrets()...)
}

func dlqPurge(cmd *cobra.Command, f *Factory, o *dlqMoveOptions, name string) error {
	ctx := cmd.Context()
	if err := o.check(); err != nil {
		return err
	}
	filter, err := o.filter.filter()
	if err != nil {
		return err
	}
	exportPath := ""
	if o.export != "" && !o.dryRun {
		if err := checkExportPath(o.export); err != nil {
			return err
		}
		exportPath = o.export
	}
	src, err := openDLQSource(ctx, f, name)
	if err != nil {
		return err
	}
	defer src.Close()
	b := src.broker()
	if err := checkHeld(b, "in-flight", o.inFlight); err != nil {
		return err
	}
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
	if filter.Empty() && exportPath == "" && !o.dryRun && o.limit == 0 {
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
	mode, prefetch := readRemove, o.inFlight
	switch {
	case o.dryRun && b == "rabbitmq":
		mode, prefetch = readPeek, amqpMaxHeld
	case o.dryRun || purgeAfter:
		mode = readPeek
	}
	st := &dlq.MoveStats{}
	run := dlq.Options{Broker: b, Getter: src.getter(), Filter: filter, Limit: o.limit, Rate: o.rate, DryRun: o.dryRun, DryRunOut: dryRunOut(f),
		Logf: f.Warnf, Skip: dlq.SkipFor(b, nil), Forward: dlq.Discard{}, Verb: "purge"}
	exporter := &dlq.Exporter{Broker: b, Path: exportPath, Batch: o.inFlight}
	defer exporter.Close()
	if exportPath != "" || purgeAfter {
		run.Forward = exporter
	}
	if b == "rabbitmq" && !o.dryRun {
		rp, err := openForwardProducer(ctx, src.conn, src.target, o.inFlight)
		if err != nil {
			return err
		}
		defer rp.Close()
		run.Skip = rotateSkip(name, rp)
	}
	c, err := src.consumer(ctx, f, mode, "", prefetch)
	if err != nil {
		return err
	}
	verb := "purged"
	if purgeAfter {
		verb = "read"
		if exportPath != "" {
			verb = "exported"
		}
	}
	runErr := runDLQ(ctx, f, c, run, st, verb, src, o.progress)
	if err := exporter.Close(); err != nil && runErr == nil {
		runErr = mqerr.Wrap(mqerr.Partial, err)
	}
	if exportPath != "" && !exporter.Created() {
		fmt.Fprintf(f.IO.Err, "mqctl: nothing was exported, so %s was not created\n", exportPath)
	}
	if runErr != nil || !purgeAfter {
		if runErr == nil && exporter.Created() {
			printRestoreHint(f, src, exporter)
		}
		return runErr
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
		if exportPath != "" {
			return fmt.Errorf("exported to %s, but the purge failed: %w", exportPath, err)
		}
		return err
	}
	fmt.Fprintf(f.IO.Err, "mqctl: purged %d dead letters from %s\n", n, name)
	if exporter.Created() {
		printRestoreHint(f, src, exporter)
	}
	return nil
}

// checkExportPath refuses an --export file that exists (an earlier export
// may be the only copy left) or whose directory does not, before anything
// is read; the file itself is created with the first dead letter.
func checkExportPath(path string) error {
	if _, err := os.Lstat(path); err == nil {
		return mqerr.Usagef("--export %s: the file exists, and an earlier export may be the only copy left; name a new file", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return mqerr.Usagef("--export: %v", err)
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return mqerr.Usagef("--export %s: directory %s does not exist", path, dir)
	}
	return nil
}

// printRestoreHint prints the command that puts the exported dead letters
// back into the source, ready to run as printed.
func printRestoreHint(f *Factory, src *dlqSource, e *dlq.Exporter) {
	args, note := restoreCommand(src.target, f.Global.URL != "", src.broker(), src.name, e)
	fmt.Fprintf(f.IO.Err, "mqctl: %d dead letters are in %s; this restores them%s:\n  %s\n", e.Exported, e.Path, note, shellJoin(args))
}

// restoreCommand is the produce command line that sends an export back to
// the source it came from: to the same context (and --url when one was
// given; the password stays out), the same topic (each record to its
// partition), queue or subject.
func restoreCommand(t broker.Target, urlFlag bool, brokerName, source string, e *dlq.Exporter) (args []string, note string) {
	args = []string{"mqctl"}
	if t.Context != "" {
		args = append(args, "-c", t.Context)
	}
	if t.Context == "" || urlFlag {
		u, token := broker.WithoutPassword(t.URL)
		args = append(args, "--url", u)
		switch {
		case token:
			note = " (the URL's token is not printed: put it back before the host, TOKEN@host)"
		case u != t.URL:
			note = " (the URL's password is not printed: set MQCTL_PASSWORD, or add :PASSWORD after the user)"
		}
	}
	args = append(args, "produce")
	switch brokerName {
	case "kafka":
		args = append(args, source, "--partitioner", "manual")
	case "rabbitmq":
		args = append(args, "--queue", source)
	case "nats":
		subject := source
		if len(e.Subjects) > 0 {
			subject = e.Subjects[0]
		}
		args = append(args, subject)
		if len(e.Subjects) > 1 {
			note += fmt.Sprintf(" (they were stored under %d subjects and produce sends a file to one: all go to %s)", len(e.Subjects), subject)
		}
		if e.WithID > 0 {
			note += fmt.Sprintf(" (%d carry a Nats-Msg-Id: the stream takes them for duplicates until its duplicate window, 2 minutes by default, has passed since they were first stored)", e.WithID)
		}
	}
	return append(args, "--format", "jsonl", "--file", e.Path), note
}

// shellJoin quotes args for a POSIX shell, so a printed command runs as
// printed: plain words stay as they are, others go in single quotes.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = shellQuote(a)
	}
	return strings.Join(out, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
