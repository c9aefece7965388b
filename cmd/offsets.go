package cmd

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/offsets"
	"github.com/mqctl/mqctl/internal/output"
)

// OffsetsResetOptions is what `mqctl offsets reset` needs once its flags
// are parsed and checked.
type OffsetsResetOptions struct {
	IO      *output.Streams
	Format  output.Format
	Ctx     context.Context
	Open    func(context.Context) (broker.Conn, broker.Target, error)
	Request offsets.Request
	Execute bool

	to, toTime string
	toSeq      int64
	topics     []string
	changed    func(name string) bool
}

// NewCmdOffsets builds `mqctl offsets` and its `reset` command; runF,
// when given, receives reset's options instead of the run.
func NewCmdOffsets(f *Factory, runF func(*OffsetsResetOptions) error) *cobra.Command {
	c := &cobra.Command{
		Use:   "offsets",
		Short: "Move the stored position of a Kafka consumer group or a JetStream durable consumer",
		Example: `  mqctl offsets reset billing --to earliest --topic orders
  mqctl offsets reset billing --to 1h --execute`,
	}
	c.AddCommand(newCmdOffsetsReset(f, runF))
	return c
}

func newCmdOffsetsReset(f *Factory, runF func(*OffsetsResetOptions) error) *cobra.Command {
	o := &OffsetsResetOptions{IO: f.IO, Open: f.Open}
	c := &cobra.Command{
		Use:   "reset GROUP --to WHERE [--topic TOPIC[:P,P...]]... [--execute]",
		Short: "Plan, and with --execute apply, a reset of a group's offsets",
		Long: `Reset the stored position of a consumer group: the committed offsets of a Kafka group, or
the next sequence of a JetStream durable consumer (GROUP is the durable's name). Without
--execute it only prints the plan: per topic and partition the current offset, the new one,
the change and the lag after the reset. --execute applies the same plan.

--to is one of: earliest, latest, an OFFSET, shift=N (N may be negative), an RFC 3339 time
(2026-12-06T10:00:00Z) or a duration ago (1h, 90m): the first record at or after that time.
A new offset outside [log start, high watermark] (JetStream: [first sequence, last sequence + 1])
is clamped to it, and the plan says so.
--to-seq N and --to-time T are the JetStream spellings of --to N and --to T.

--topic TOPIC resets every partition of TOPIC, --topic TOPIC:0,3 only partitions 0 and 3;
repeatable. Without --topic: every topic the group has committed offsets on. Naming a topic
also sets offsets for a group that has none yet. On JetStream --topic names the durable's
stream (found by its name otherwise), without partitions.

A reset is refused while the group has live members (exit 2, naming how many): stop its
consumers first. For JetStream that means no bound push subscriber and no pull request
waiting. JetStream resets the durable in place ($JS.API.CONSUMER.RESET, nats-server 2.14
and later), keeping its name and configuration; its pending acks and redelivery counts are
dropped. Where the server cannot (deliver policy new or last, a sequence below the one its
deliver policy starts from, an older server) the durable is deleted and created again with the
same configuration but deliver policy by_start_sequence at the new sequence. The plan says
which of the two --execute does.

RabbitMQ queues keep no consumer position: refused (exit 2). Exit codes: 0 done, 2 bad
input or a refused reset, 5 group, topic, partition or stream not found.`,
		Example: `  mqctl offsets reset billing --to earliest                 # plan for every committed topic
  mqctl offsets reset billing --to latest --topic orders --execute
  mqctl offsets reset billing --to shift=-100 --topic orders:0,3 -o json
  mqctl offsets reset billing --to 2026-12-06T10:00:00Z --execute
  mqctl offsets reset worker --to-seq 1500 --topic ORDERS --execute   # JetStream durable`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNames(f, broker.NamesConsumers, 1),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			o.Ctx, o.changed = cmd.Context(), cmd.Flags().Changed
			if o.Format, err = f.Format(); err != nil {
				return err
			}
			if err = o.parse(args[0], time.Now()); err != nil {
				return err
			}
			if runF != nil {
				return runF(o)
			}
			return offsetsResetRun(o)
		},
	}
	fl := c.Flags()
	fl.StringVar(&o.to, "to", "", "earliest, latest, OFFSET, shift=N, an RFC 3339 time or a duration ago (1h)")
	fl.Int64Var(&o.toSeq, "to-seq", 0, "JetStream: the stream sequence the durable reads next")
	fl.StringVar(&o.toTime, "to-time", "", "JetStream: the first message at or after this RFC 3339 time or duration ago")
	fl.StringArrayVar(&o.topics, "topic", nil, "TOPIC or TOPIC:P[,P...] to reset (repeatable; default: every topic the group committed on)")
	fl.BoolVar(&o.Execute, "execute", false, "apply the plan (default: print it and change nothing)")
	_ = c.RegisterFlagCompletionFunc("topic", completeFlagNames(f, broker.NamesDestinations))
	return c
}

// parse checks the flags against each other and builds the request.
func (o *OffsetsResetOptions) parse(group string, now time.Time) error {
	given := 0
	for _, name := range []string{"to", "to-seq", "to-time"} {
		if o.changed(name) {
			given++
		}
	}
	if given != 1 {
		return mqerr.Usagef("say where to with exactly one of --to, --to-seq or --to-time")
	}
	var err error
	to := o.to
	switch {
	case o.changed("to-seq"):
		if o.toSeq < 1 {
			return mqerr.Usagef("--to-seq %d: a stream sequence is 1 or more", o.toSeq)
		}
		to = strconv.FormatInt(o.toSeq, 10)
	case o.changed("to-time"):
		to = o.toTime
	}
	if o.Request.To, err = offsets.ParseTo(to, now); err != nil {
		return err
	}
	if o.changed("to-time") && o.Request.To.Kind != offsets.AtTime {
		return mqerr.Usagef("--to-time %s: want an RFC 3339 time (2026-12-06T10:00:00Z) or a duration ago (1h)", o.toTime)
	}
	o.Request.Group = group
	for _, s := range o.topics {
		t, err := offsets.ParseTopic(s)
		if err != nil {
			return err
		}
		o.Request.Topics = append(o.Request.Topics, t)
	}
	return nil
}

func offsetsResetRun(o *OffsetsResetOptions) error {
	conn, t, err := o.Open(o.Ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	caps, _ := broker.CapabilitiesOf(conn)
	r, err := broker.As[broker.OffsetResetter](conn, "resetting consumer offsets")
	if err != nil {
		return fmt.Errorf("%w: a %s keeps no consumer position to move", err, caps.DestinationKind)
	}
	if err := caps.CheckFlags("offsets", o.changed); err != nil {
		return err
	}
	ctx, cancel := withTimeout(o.Ctx, t)
	defer cancel()
	plan, err := offsets.MakePlan(ctx, r, o.Request)
	if err != nil {
		return err
	}
	if plan.Members > 0 {
		return broker.LiveMembers(plan.Group, plan.Members)
	}
	if o.Execute {
		if err := offsets.Apply(ctx, r, &plan); err != nil {
			return err
		}
	}
	if err := output.Object(o.IO, o.Format, plan, func() output.Table { return offsets.Table(plan) }); err != nil {
		return err
	}
	switch n := plan.Clamped(); {
	case n > 0 && plan.Partitioned:
		fmt.Fprintf(o.IO.Err, "mqctl: note: %d of %d partitions clamped to [log start, high watermark]\n", n, len(plan.Rows))
	case n > 0:
		fmt.Fprintf(o.IO.Err, "mqctl: note: the new sequence is clamped to the stream's [first sequence, last sequence + 1]\n")
	}
	switch {
	case o.Execute && plan.Partitioned:
		fmt.Fprintf(o.IO.Err, "mqctl: executed: %s (%d partitions)\n", output.TerminalText(plan.Action), len(plan.Rows))
	case o.Execute:
		fmt.Fprintf(o.IO.Err, "mqctl: executed: %s\n", output.TerminalText(plan.Action))
	default:
		fmt.Fprintf(o.IO.Err, "mqctl: plan only, nothing changed; --execute will %s\n", output.TerminalText(plan.Action))
	}
	return nil
}
