package cmd

import (
	"fmt"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/consume"
	"github.com/mqctl/mqctl/internal/match"
	"github.com/mqctl/mqctl/internal/mqerr"
)

type consumeOptions struct {
	consumer      broker.ConsumerOptions
	from          string
	count         int64
	idleTimeout   time.Duration
	ack           string
	exec          string
	execTimeout   time.Duration
	retries       int
	backoff       time.Duration
	onFail        string
	concurrency   int
	grep, keyGrep string
	headers       []string
}

func newConsumeCmd(f *Factory) *cobra.Command {
	o := &consumeOptions{}
	c := &cobra.Command{
		Use:     "consume SOURCE...",
		Aliases: []string{"sub"},
		Short:   "Read messages and ack each one only after it was written or handled",
		Long: `Read messages from Kafka topics, a RabbitMQ queue, a JetStream stream or (--core) a NATS subject.

Each message is settled only after it was handled:
  --ack after-output  (default) ack/commit after the message was written and flushed to stdout
  --ack none          peek: nothing is acked or committed. On RabbitMQ the peeked messages go
                      back with nack+requeue and come back marked redelivered
  --exec 'CMD'        run CMD per message (value on stdin, metadata in MQ_* variables: MQ_KEY,
                      MQ_DESTINATION, MQ_PARTITION, MQ_OFFSET, MQ_SUBJECT, MQ_HEADERS_JSON, ...);
                      exit 0 acks; otherwise --retries with --backoff, then --on-fail:
                      requeue, reject (RabbitMQ: to the queue's DLX; JetStream: +TERM),
                      dead-letter=DEST (publish to DEST with confirms and mq-original-* /
                      mq-death-* headers, then ack; on JetStream the copy's Nats-Msg-Id is
                      <id>:dead-letter:<stream>:<seq>, its first id in mq-msg-id) or stop

Kafka without --group reads partitions directly and commits nothing; with --group it commits
only offsets whose record and every earlier one of its partition were handled. kill -9 at any
point loses nothing: unsettled messages are delivered again.

Output (-o): raw (default: the value and a newline), jsonl (the envelope that
'mqctl produce --format jsonl' reads back byte for byte), json (an array) or template=TEMPLATE
(fields .Key .Value .Headers .Partition .Offset .Subject .StreamSeq ..., {{.Header "name"}}).
A template's syntax, functions and field names are checked before anything is read (exit 2).
A template that fails on a message ({{slice .Value 0 2}} on a shorter value) stops the run
there: the error names the message (orders[0]@5: template: ...), it counts as failed, it and
the messages after it are not acked, and the exit code is 3.

` + consume.TerminalHelp + `

Core NATS (--core) has no acknowledgement: the summary counts what was delivered as
"not acknowledged", never as acked.

--from (Kafka, JetStream): beginning, end, stored, N (offset / stream sequence), -N (the last
N per partition), an RFC 3339 time, or a duration ago (15m). Left out: the stored position of
the group or durable consumer, else the beginning; given empty, it is refused.
Flags that mean nothing on the context's broker are refused (exit 2), as is --key-grep where
messages have no key (RabbitMQ, NATS).

Exit codes: 0 done, 2 bad input (before anything is consumed), 3 some messages failed,
4 auth, 5 source missing, 130 interrupted (what was written is still acked).`,
		Example: `  mqctl consume orders -n 10 --ack none                 # peek at 10 messages
  mqctl consume orders --group billing -o jsonl > dump.jsonl
  mqctl consume jobs --exec ./handle.sh --retries 3 --on-fail dead-letter=jobs.dlq
  mqctl consume ORDERS --filter-subject orders.eu --from 1h --until-end -o jsonl
  mqctl consume 'metrics.>' --core --idle-timeout 10s`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return consumeRun(cmd, f, o, args)
		},
	}
	fl := c.Flags()
	fl.StringVar(&o.consumer.Group, "group", "", "Kafka consumer group (commits handled offsets)")
	fl.Int32SliceVar(&o.consumer.Partitions, "partition", nil, "Kafka partitions to read without a group (default: all)")
	fl.StringVar(&o.from, "from", "", "start position (Kafka, JetStream): beginning, end, stored, N, -N, RFC 3339 time or duration ago")
	fl.IntVar(&o.consumer.Prefetch, "prefetch", 100, "deliveries unsettled at most (RabbitMQ basic.qos, JetStream max ack pending)")
	fl.StringVar(&o.consumer.Durable, "consumer", "", "JetStream durable consumer to use (created when missing; default: an ephemeral one)")
	fl.StringVar(&o.consumer.FilterSubject, "filter-subject", "", "JetStream: only messages on this subject")
	fl.BoolVar(&o.consumer.Core, "core", false, "NATS: subscribe to a core subject (no ack, no redelivery)")
	fl.StringVar(&o.consumer.QueueGroup, "queue-group", "", "NATS core: join this queue group")
	fl.Int64VarP(&o.count, "count", "n", 0, "stop after this many messages (0: no limit)")
	fl.BoolVar(&o.consumer.UntilEnd, "until-end", false, "stop when caught up with what existed at the start")
	fl.DurationVar(&o.idleTimeout, "idle-timeout", 0, "stop when no message came for this long")
	fl.StringVar(&o.ack, "ack", "after-output", "after-output, or none (peek)")
	fl.StringVar(&o.exec, "exec", "", "run this shell command per message; exit 0 acks it")
	fl.DurationVar(&o.execTimeout, "exec-timeout", 0, "fail a handler run that takes longer (0: no bound)")
	fl.IntVar(&o.retries, "retries", 0, "run a failed handler again this many times")
	fl.DurationVar(&o.backoff, "backoff", time.Second, "pause before a retry, doubling each time up to 1m")
	fl.StringVar(&o.onFail, "on-fail", "", "after the last failed try: requeue, reject, dead-letter=DEST or stop\n(default: requeue on RabbitMQ and JetStream; stop on Kafka and core NATS, which cannot deliver one message again)")
	fl.IntVar(&o.concurrency, "concurrency", 1, "handlers running at once (Kafka keeps order per partition)")
	fl.StringVar(&o.grep, "grep", "", "only messages whose value matches this regular expression")
	fl.StringVar(&o.keyGrep, "key-grep", "", "only messages whose key matches this regular expression")
	fl.StringArrayVar(&o.headers, "header", nil, "only messages with this header name=value (or name); repeatable, all must match")
	_ = c.RegisterFlagCompletionFunc("ack", cobra.FixedCompletions([]string{"after-output", "none"}, cobra.ShellCompDirectiveNoFileComp))
	_ = c.RegisterFlagCompletionFunc("on-fail", cobra.FixedCompletions([]string{"requeue", "reject", "dead-letter=", "stop"}, cobra.ShellCompDirectiveNoSpace))
	_ = c.RegisterFlagCompletionFunc("from", cobra.FixedCompletions([]string{"beginning", "end", "stored"}, cobra.ShellCompDirectiveNoFileComp))
	return c
}

func consumeRun(cmd *cobra.Command, f *Factory, o *consumeOptions, args []string) error {
	ctx := cmd.Context()
	// Everything below is checked before anything is consumed.
	run, err := o.runOptions(cmd)
	if err != nil {
		return err
	}
	if cmd.Flags().Changed("from") {
		if o.consumer.From, err = consume.ParseFrom(o.from, time.Now()); err != nil {
			return err
		}
	}
	o.consumer.Sources = args
	o.consumer.Logf = f.Warnf

	conn, t, err := f.Open(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	run.Broker = conn.Broker()
	run.Logf = f.Warnf
	run.Verbose = f.Global.Verbose > 0
	if run.Exec != nil {
		run.Exec.Secrets, run.Exec.SecretEnv = f.Secrets()
	}
	if !run.Peek {
		if err := requireWritable(t, "consume with acks (use --ack none to peek)"); err != nil {
			return err
		}
	}
	if run.Exec == nil {
		format := "raw"
		if cmd.Flags().Changed("output") {
			format = f.Global.Output
		}
		if run.Printer, err = consume.NewPrinter(format, run.Broker); err != nil {
			return err
		}
		if f.IO.OutTTY {
			run.Printer = consume.ForTerminal(run.Printer)
		}
	}
	if err := o.checkBroker(conn.Broker(), &run); err != nil {
		return err
	}
	subscriber, err := broker.As[broker.Subscriber](conn, "consuming")
	if err != nil {
		return err
	}
	if run.OnFail.Kind == "dead-letter" {
		publisher, err := broker.As[broker.Publisher](conn, "dead-lettering")
		if err != nil {
			return err
		}
		pctx, cancel := withTimeout(ctx, t)
		// TODO(i12-capabilities): broker-name switch; destination kind (queue or topic/subject) of a dead-letter target.
		run.DeadLetter, err = publisher.NewProducer(pctx, broker.ProducerOptions{
			Destination: run.OnFail.Dest, DestinationIsQueue: conn.Broker() == "rabbitmq",
			Mandatory: true, Persistent: true, InFlight: 100,
		})
		cancel()
		if err != nil {
			return fmt.Errorf("--on-fail dead-letter=%s: %w", run.OnFail.Dest, err)
		}
		defer run.DeadLetter.Close()
	}
	// TODO(i12-capabilities): broker-name switch; what a peek costs (RabbitMQ holds every delivery unacked).
	if run.Peek && conn.Broker() == "rabbitmq" && o.count > int64(o.consumer.Prefetch) {
		// A RabbitMQ peek holds every delivery unacked: it sees at most
		// prefetch of them.
		o.consumer.Prefetch = int(o.count)
	}

	cctx, cancel := withTimeout(ctx, t)
	consumer, err := subscriber.NewConsumer(cctx, o.consumer)
	cancel()
	if err != nil {
		return err
	}
	// A closed stdout (| head) must end the run cleanly with what was
	// written acked, not kill mqctl with SIGPIPE.
	signal.Ignore(syscall.SIGPIPE)
	defer signal.Reset(syscall.SIGPIPE)

	tuneGC(f)
	st := &consume.Stats{}
	start := time.Now()
	runErr := consume.Run(ctx, consumer, f.IO.Out, st, run)
	fmt.Fprintf(f.IO.Err, "mqctl: %s\n", st.Summary(time.Since(start)))
	return broker.Scrub(runErr, t.Secrets()...)
}

// runOptions checks the flags that need no broker.
func (o *consumeOptions) runOptions(cmd *cobra.Command) (consume.Options, error) {
	run := consume.Options{Count: o.count, IdleTimeout: o.idleTimeout, Concurrency: o.concurrency, Retries: o.retries, Backoff: o.backoff}
	switch o.ack {
	case "after-output":
	case "none":
		run.Peek = true
		o.consumer.Peek = true
		if o.onFail != "" {
			return run, mqerr.Usagef("--on-fail does not go with --ack none: a peek settles nothing and publishes nothing")
		}
	default:
		return run, mqerr.Usagef("--ack %q: want after-output or none", o.ack)
	}
	var err error
	if run.Filter, err = match.New(o.grep, o.keyGrep, o.headers); err != nil {
		return run, err
	}
	if o.onFail != "" {
		if run.OnFail, err = consume.ParseOnFail(o.onFail); err != nil {
			return run, err
		}
	}
	switch {
	case o.count < 0:
		return run, mqerr.Usagef("--count %d: want 0 (no limit) or more", o.count)
	case o.concurrency < 1:
		return run, mqerr.Usagef("--concurrency %d: want 1 or more", o.concurrency)
	case o.retries < 0:
		return run, mqerr.Usagef("--retries %d: want 0 or more", o.retries)
	case o.consumer.Prefetch < 1:
		return run, mqerr.Usagef("--prefetch %d: want 1 or more", o.consumer.Prefetch)
	case o.idleTimeout < 0 || o.backoff < 0 || o.execTimeout < 0:
		return run, mqerr.Usagef("durations must not be negative")
	}
	if o.exec == "" {
		for _, name := range []string{"retries", "backoff", "on-fail", "concurrency", "exec-timeout"} {
			if cmd.Flags().Changed(name) {
				return run, mqerr.Usagef("--%s applies to --exec handlers only", name)
			}
		}
		return run, nil
	}
	if cmd.Flags().Changed("output") {
		return run, mqerr.Usagef("-o does not go with --exec: the handler's own output is printed")
	}
	if err := consume.CheckCommand(o.exec); err != nil {
		return run, err
	}
	run.Exec = &consume.Exec{Command: o.exec, Stdout: cmd.OutOrStdout(), Stderr: cmd.ErrOrStderr(), Timeout: o.execTimeout}
	return run, nil
}

// checkBroker refuses flags that mean nothing on the connected broker and
// picks the broker's default --on-fail.
func (o *consumeOptions) checkBroker(name string, run *consume.Options) error {
	if run.Exec != nil {
		run.Exec.Broker = name
	}
	// TODO(i12-capabilities): broker-name switch; whether redelivery exists.
	noRedelivery := name == "kafka" || o.consumer.Core
	if run.OnFail.Kind == "" {
		run.OnFail.Kind = "requeue"
		if noRedelivery {
			run.OnFail.Kind = "stop"
		}
	}
	// TODO(i12-capabilities): broker-name switch; whether messages have keys.
	if name != "kafka" && o.keyGrep != "" {
		return mqerr.Usagef("--key-grep: %s messages have no key (use --header to match a header)", name)
	}
	// TODO(i12-capabilities): broker-name switch; which consume flags each driver accepts.
	only := map[string][]string{
		"kafka":    {"group", "partition"},
		"nats":     {"consumer", "filter-subject", "core", "queue-group"},
		"rabbitmq": {},
	}
	set := map[string]bool{
		"group": o.consumer.Group != "", "partition": len(o.consumer.Partitions) > 0,
		"consumer": o.consumer.Durable != "", "filter-subject": o.consumer.FilterSubject != "",
		"core": o.consumer.Core, "queue-group": o.consumer.QueueGroup != "",
	}
	for b, flags := range only {
		if b == name {
			continue
		}
		for _, fl := range flags {
			if set[fl] {
				return mqerr.Usagef("--%s is for %s; this context is %s", fl, b, name)
			}
		}
	}
	// TODO(i12-capabilities): broker-name switch; whether the source can start from a position (--from).
	if name == "rabbitmq" && o.from != "" {
		return mqerr.Usagef("--from is for Kafka and JetStream: a RabbitMQ queue is always read from its head")
	}
	if noRedelivery && (run.OnFail.Kind == "requeue" || run.OnFail.Kind == "reject") {
		what := "Kafka cannot requeue or reject one record"
		if o.consumer.Core {
			what = "core NATS has no acknowledgement"
		}
		return mqerr.Usagef("--on-fail %s: %s; use dead-letter=DEST or stop", run.OnFail.Kind, what)
	}
	return nil
}
