package cmd

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/dlq"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

// DLQLsOptions is what `dlq ls` needs once its flags are parsed and checked.
type DLQLsOptions struct {
	IO     *output.Streams
	Format output.Format
	Ctx    context.Context
	dlqConn

	Query      broker.DeadLetterQuery
	Sample     int
	Check      bool
	Thresholds dlq.CheckThresholds
	changed    func(name string) bool
}

// NewCmdDLQLs builds `dlq ls`; runF, when given, receives the options
// instead of the run.
func NewCmdDLQLs(f *Factory, runF func(*DLQLsOptions) error) *cobra.Command {
	o := &DLQLsOptions{IO: f.IO, dlqConn: newDLQConn(f)}
	c := &cobra.Command{
		Use:   "ls",
		Short: "List dead-letter queues, topics and streams with depth, oldest age and top reasons",
		Long: `List the context's dead-letter destinations: RabbitMQ queues bound to a dead-letter exchange
named in any queue's arguments or policies, or named like DLQs, and with --scan-heads queues
holding x-death messages; Kafka topics matching --pattern (default *.DLT, *-dlt, *.dlq, *-dlq,
*.DLQ, dlq.*); JetStream streams capturing MAX_DELIVERIES / MSG_TERMINATED advisories or named
like DLQs.

Top reasons come from reading the first --sample dead letters of each, without side effects on
Kafka and JetStream. On RabbitMQ reading marks messages redelivered, so it is only done when
asked: --sample for the reasons, --scan-heads to read the first message of every classic queue
that has messages and no consumer, and list it when that message is a dead letter (left where no
dead-letter exchange leads any more, or moved there by hand). The message is put back in its
place at once. Quorum queues are not read: a return counts toward their delivery limit.`,
		Example: `  mqctl dlq ls
  mqctl dlq ls --scan-heads                  # RabbitMQ: also find queues holding x-death messages
  mqctl dlq ls --pattern '*.errors' -o json
  mqctl dlq ls --check --warn 1 --crit 1000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Ctx, o.changed = cmd.Context(), cmd.Flags().Changed
			err := o.parse(f)
			if err == nil && runF != nil {
				return runF(o)
			}
			if err == nil {
				err = dlqLsRun(o)
			}
			return checkErr(f, o.Check, err)
		},
	}
	fl := c.Flags()
	fl.StringArrayVar(&o.Query.Patterns, "pattern", nil, "glob for dead-letter topic and stream names (repeatable; default: the usual DLQ names)")
	fl.IntVar(&o.Sample, "sample", 20, "read this many dead letters of each for the top reasons (0: none)")
	fl.BoolVar(&o.Query.ScanHeads, "scan-heads", false, "RabbitMQ: also list classic queues without consumers whose first message is a dead letter (x-death); reading marks it redelivered")
	fl.BoolVar(&o.Check, "check", false, "exit with Nagios codes by the deepest dead-letter destination")
	fl.Int64Var(&o.Thresholds.Warn, "warn", 0, "--check: WARN at this many dead letters or more (1 or more)")
	fl.Int64Var(&o.Thresholds.Crit, "crit", 0, "--check: CRIT at this many dead letters or more (1 or more)")
	return c
}

func (o *DLQLsOptions) parse(f *Factory) (err error) {
	if err := checkThresholds(o.changed, o.Check, o.Thresholds); err != nil {
		return err
	}
	if o.Sample < 0 {
		return mqerr.Usagef("--sample %d: want 0 (none) or more", o.Sample)
	}
	if o.Format, err = f.Format(); err != nil {
		return err
	}
	return o.Query.Check()
}

func dlqLsRun(o *DLQLsOptions) error {
	conn, err := o.openSource(o.Ctx, "")
	if err != nil {
		return err
	}
	defer conn.Conn.Close()
	if err := refuseFlags(conn, o.changed, "scan-heads"); err != nil {
		return err
	}
	rows, err := dlq.List(o.Ctx, conn, dlq.ListRequest{Query: o.Query, Sample: o.Sample, SampleAsked: o.changed("sample")})
	if err != nil {
		return err
	}
	print := func() error { return output.List(o.IO, o.Format, rows, dlq.RowsTable) }
	if o.Check {
		code, line := dlq.Check(dlq.Depths(rows), o.Thresholds)
		return printChecked(o.IO, code.Code(), line, print)
	}
	return print()
}

// DLQPeekOptions is what `dlq peek` needs once its flags are parsed.
type DLQPeekOptions struct {
	IO     *output.Streams
	Format output.Format
	Ctx    context.Context
	dlqConn

	Source string
	Count  int
}

// NewCmdDLQPeek builds `dlq peek`; runF, when given, receives the options
// instead of the run.
func NewCmdDLQPeek(f *Factory, runF func(*DLQPeekOptions) error) *cobra.Command {
	o := &DLQPeekOptions{IO: f.IO, dlqConn: newDLQConn(f)}
	c := &cobra.Command{
		Use:   "peek SOURCE",
		Short: "Show dead letters, decoded, without consuming them",
		Long: `Show the first dead letters of SOURCE with why they died, how often, when, and where they came
from. Nothing is acked or committed. On RabbitMQ the messages are read and returned, which marks
them redelivered; mqctl says so. For a JetStream advisory stream the message each advisory points
to is fetched from its stream, or reported as gone when limits removed it.

Columns: POSITION (Kafka partition/offset, JetStream stream#seq; none on RabbitMQ), MESSAGE ID
(the AMQP message-id, when one has it), DIED (how long ago the recorded death was: RabbitMQ
x-death, a JetStream advisory, mqctl's mq-death-time; "-" when none is recorded, as with Spring
and Connect), PUBLISHED (how long ago the message shown was published: its timestamp; "-" when
it has none), REASON, COUNT (deaths or deliveries), ORIGINAL, TRACE (when one has a traceparent),
KEY and VALUE.`,
		Example: `  mqctl dlq peek orders.DLT -n 5
  mqctl dlq peek orders.dlq -o jsonl`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNames(f, broker.NamesDestinations, 1),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			o.Ctx, o.Source = cmd.Context(), args[0]
			if o.Format, err = f.Format(); err != nil {
				return err
			}
			if o.Count < 1 {
				return mqerr.Usagef("--count %d: want 1 or more", o.Count)
			}
			if runF != nil {
				return runF(o)
			}
			return dlqPeekRun(o)
		},
	}
	c.Flags().IntVarP(&o.Count, "count", "n", 10, "how many dead letters to show")
	return c
}

func dlqPeekRun(o *DLQPeekOptions) error {
	src, err := o.openSource(o.Ctx, o.Source)
	if err != nil {
		return err
	}
	defer src.Conn.Close()
	items, err := dlq.Peek(o.Ctx, src, o.Count)
	if err != nil {
		return err
	}
	return output.List(o.IO, o.Format, items, dlq.PeekTable)
}

// DLQStatsOptions is what `dlq stats` needs once its flags are parsed and
// checked.
type DLQStatsOptions struct {
	IO     *output.Streams
	Format output.Format
	Ctx    context.Context
	dlqConn

	Source     string
	Sample     int
	Check      bool
	Thresholds dlq.CheckThresholds
	changed    func(name string) bool
}

// NewCmdDLQStats builds `dlq stats`; runF, when given, receives the
// options instead of the run.
func NewCmdDLQStats(f *Factory, runF func(*DLQStatsOptions) error) *cobra.Command {
	o := &DLQStatsOptions{IO: f.IO, dlqConn: newDLQConn(f)}
	c := &cobra.Command{
		Use:   "stats SOURCE",
		Short: "Count dead letters by reason, original destination and error, with an age histogram",
		Long: `Read every dead letter SOURCE holds, without side effects on Kafka and JetStream, and count them
by reason, original destination and exception class, with an age histogram. Memory stays bounded
whatever the size. On RabbitMQ reading marks messages redelivered and at most --sample are read.`,
		Example: `  mqctl dlq stats orders.DLT
  mqctl dlq stats orders.dlq -o json
  mqctl dlq stats orders.DLT --check --warn 10 --crit 100`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNames(f, broker.NamesDestinations, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx, o.Source, o.changed = cmd.Context(), args[0], cmd.Flags().Changed
			err := o.parse(f)
			if err == nil && runF != nil {
				return runF(o)
			}
			if err == nil {
				err = dlqStatsRun(o)
			}
			return checkErr(f, o.Check, err)
		},
	}
	c.Flags().IntVar(&o.Sample, "sample", 10000, "RabbitMQ: read at most this many, 1 to 65535 (they are held unacked, then returned)")
	c.Flags().BoolVar(&o.Check, "check", false, "exit with Nagios codes by the number of dead letters")
	c.Flags().Int64Var(&o.Thresholds.Warn, "warn", 0, "--check: WARN at this many dead letters or more (1 or more)")
	c.Flags().Int64Var(&o.Thresholds.Crit, "crit", 0, "--check: CRIT at this many dead letters or more (1 or more)")
	return c
}

func (o *DLQStatsOptions) parse(f *Factory) (err error) {
	if err := checkThresholds(o.changed, o.Check, o.Thresholds); err != nil {
		return err
	}
	if o.Sample < 1 || o.Sample > dlq.MaxHeld {
		return mqerr.Usagef("--sample %d: want 1 to %d (RabbitMQ holds what it reads unacked, and basic.qos is 16 bits)", o.Sample, dlq.MaxHeld)
	}
	o.Format, err = f.Format()
	return err
}

func dlqStatsRun(o *DLQStatsOptions) error {
	src, err := o.openSource(o.Ctx, o.Source)
	if err != nil {
		return err
	}
	defer src.Conn.Close()
	if err := refuseFlags(src, o.changed, "sample"); err != nil {
		return err
	}
	rep, err := dlq.Report(o.Ctx, src, o.Sample)
	if err != nil {
		return err
	}
	print := func() error {
		if o.Format.Name != "table" {
			return output.Object(o.IO, o.Format, rep, nil)
		}
		return dlq.PrintStats(o.IO, rep)
	}
	if o.Check {
		code, line := dlq.Check([]dlq.Depth{rep.CheckDepth()}, o.Thresholds)
		return printChecked(o.IO, code.Code(), line, print)
	}
	return print()
}
