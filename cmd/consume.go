package cmd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/consume"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

// ConsumeOptions is what `mqctl consume` needs once its flags are parsed.
type ConsumeOptions struct {
	f       *Factory
	Flags   consume.Flags
	Sources []string
	Changed func(name string) bool
	Ctx     context.Context
}

// NewCmdConsume builds `mqctl consume SOURCE...`.
func NewCmdConsume(f *Factory, runF func(*ConsumeOptions) error) *cobra.Command {
	o := &ConsumeOptions{f: f}
	fs := &o.Flags
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
                      MQ_DESTINATION, MQ_PARTITION, MQ_OFFSET, MQ_SUBJECT, MQ_HEADERS_JSON, ...;
                      a W3C traceparent/tracestate header as TRACEPARENT/TRACESTATE);
                      exit 0 acks; otherwise --retries with --backoff, then --on-fail:
                      requeue, reject (RabbitMQ: to the queue's DLX; JetStream: +TERM),
                      dead-letter=DEST (publish to DEST with confirms and mq-original-* /
                      mq-death-* headers, then ack; on JetStream the copy's Nats-Msg-Id is
                      <id>:dead-letter:<stream>:<seq>, its first id in mq-msg-id) or stop
  --on-fail retry=30s,2m,10m[,ACTION]
                      delayed retries that do not block the consumer: a failed message waits
                      in the broker (RabbitMQ: queue <queue>.retry.30s with a TTL that
                      dead-letters it back; JetStream: -NAK with the delay; Kafka, with
                      --group: topic <topic>.retry.30s, read back when due) and comes again
                      with MQ_ATTEMPT 2, 3, ...; after the last delay ACTION (requeue, reject,
                      dead-letter=DEST or stop) applies
  --on-fail stop      (default on Kafka and core NATS) no handler starts after the failure, those
                      running (--concurrency) finish; the failed message and those fetched but
                      not started are nacked: requeued, or on Kafka not committed; the summary
                      counts the failed message once, as "failed 1 (not committed 1)", and
                      the others as "not committed N"; exit code 3

Kafka without --group reads partitions directly and commits nothing (the summary says
"nothing committed (no --group)" instead of counting acks); with --group it commits only
offsets whose record and every earlier one of its partition were handled. kill -9 at any
point loses nothing: unsettled messages are delivered again.

With --exec the summary counts each message read once: handled, failed (with what --on-fail
did to it), delayed, requeued (Kafka: not committed) without a verdict, given back or
filtered out; acked and settle errors count the settles apart. -n N stops after N messages
handled or failed: deliveries given back do not count. --concurrency N runs N handlers; on
Kafka one partition's records are handled in order, one at a time, and a slow partition holds
up no other (its fetching pauses while 64 of its records wait).

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
N per partition; -0 is the end), an RFC 3339 time, or a duration ago (15m). Left out: the stored
position of the group or durable consumer, else the beginning; given empty, it is refused, as is
a time more than a minute ahead of the local clock.
Flags that mean nothing on the context's broker are refused (exit 2), as is --key-grep where
messages have no key (RabbitMQ, NATS).

Stopping (--exec): on SIGTERM (what Kubernetes sends) or Ctrl-C nothing more is fetched or
started; the handlers running go on for up to --shutdown-timeout (default 30s), and what they
finish is acked or committed. Messages fetched but not started go back at once (JetStream -NAK,
RabbitMQ cancel and nack; Kafka: not committed), for other consumers to take meanwhile.
Handlers still running then are stopped and their messages nacked: they come again. A second
signal kills mqctl at once (nothing unfinished is acked). SIGTERM ends the run like a normal
stop (exit 0, or 3 when messages failed); Ctrl-C exits 130.

A delivery whose channel, connection or partition closed before its handler started (RabbitMQ
consumer_timeout or a reconnect, a Kafka rebalance) is not handled: the broker delivers it
again. The summary counts it as "given back"; it does not change the exit code. A handler
that finishes after the close cannot ack: its message is handled again, and the exit code is 3.
When the broker takes the same message back twice because its handler outlasted the broker's
ack timeout (RabbitMQ consumer_timeout), mqctl stops rather than run it again forever: nothing
more starts, the message stays in the queue unacked, one line names the queue, the timeout and
what to raise, and the exit code is 3. The --on-fail verdict of a handler that outlasted the
timeout does not reach the broker: no reject or requeue, and no copy for dead-letter=DEST or
retry=..., as a copy is published only while the broker still holds the message. Should the
timeout fire after that check and before the ack (while the copy is being published), or its
channel close not have reached mqctl yet at the check, the copy stays in DEST or the delay
queue beside the message that comes back: one duplicate.

--serve HOST:PORT (--exec only) serves, while the run goes on:
  /healthz  {"status":"UP","components":{"consumer":{...},"broker":{...}}}, 503 when DOWN: the
            consumer is DOWN when it did not poll the broker for 60s plus --exec-timeout per try
            (a handler that hangs), the broker when its last check failed (it is checked every
            5s on a connection of its own, reading the consumer's lag)
  /metrics  mqctl_consume_handled_total, _failed_total, _retried_total, _dead_lettered_total,
            _handler_duration_seconds{outcome}, _lag and more (see README)

Exit codes: 0 done (also after a SIGTERM drain), 2 bad input (before anything is consumed),
3 some messages failed or could not be acked (they come again; also the ack timeout stop),
4 auth, 5 source missing,
130 interrupted (what was written is still acked).`,
		Example: `  mqctl consume orders -n 10 --ack none                 # peek at 10 messages
  mqctl consume orders --group billing -o jsonl > dump.jsonl
  mqctl consume jobs --exec ./handle.sh --retries 3 --on-fail dead-letter=jobs.dlq
  mqctl consume jobs --exec ./handle.sh --on-fail retry=30s,2m,10m,dead-letter=jobs.dlq
  mqctl consume jobs --group workers --exec ./handle.sh --serve :8080 --shutdown-timeout 25s
  mqctl consume ORDERS --filter-subject orders.eu --from 1h --until-end -o jsonl
  mqctl consume 'metrics.>' --core --idle-timeout 10s`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeNames(f, broker.NamesDestinations, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Sources, o.Changed, o.Ctx = args, cmd.Flags().Changed, cmd.Context()
			fs.OutputGiven = cmd.Flags().Changed("output")
			if runF != nil {
				return runF(o)
			}
			return consumeRun(o)
		},
	}
	fl := c.Flags()
	fl.StringVar(&fs.Consumer.Group, "group", "", "Kafka consumer group (commits handled offsets)")
	fl.Int32SliceVar(&fs.Consumer.Partitions, "partition", nil, "Kafka partitions to read without a group (default: all)")
	fl.StringVar(&fs.From, "from", "", "start position (Kafka, JetStream): beginning, end, stored, N, -N, RFC 3339 time or duration ago")
	fl.IntVar(&fs.Consumer.Prefetch, "prefetch", 100, "deliveries unsettled at most (RabbitMQ basic.qos, JetStream max ack pending); Kafka: records handed out per poll")
	fl.StringVar(&fs.Consumer.Durable, "consumer", "", "JetStream durable consumer to use (created when missing; default: an ephemeral one)")
	fl.StringVar(&fs.Consumer.FilterSubject, "filter-subject", "", "JetStream: only messages on this subject")
	fl.BoolVar(&fs.Consumer.Core, "core", false, "NATS: subscribe to a core subject (no ack, no redelivery)")
	fl.StringVar(&fs.Consumer.QueueGroup, "queue-group", "", "NATS core: join this queue group")
	fl.Int64VarP(&fs.Count, "count", "n", 0, "stop after this many messages (0: no limit); with --exec, handled or failed")
	fl.BoolVar(&fs.Consumer.UntilEnd, "until-end", false, "stop when caught up with what existed at the start")
	fl.DurationVar(&fs.IdleTimeout, "idle-timeout", 0, "stop when no message came for this long (with --exec: and none waited or was being handled)")
	fl.StringVar(&fs.Ack, "ack", "after-output", "after-output, or none (peek)")
	fl.StringVar(&fs.Exec, "exec", "", "run this shell command per message; exit 0 acks it")
	fl.DurationVar(&fs.ExecTimeout, "exec-timeout", 0, "fail a handler run that takes longer (0: no bound)")
	fl.DurationVar(&fs.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "after SIGTERM or Ctrl-C, stop handlers still running after this long; their messages come again (0: no bound)")
	fl.StringVar(&fs.Serve, "serve", "", "with --exec: serve /healthz and /metrics on this host:port (e.g. :8080)")
	fl.IntVar(&fs.Retries, "retries", 0, "run a failed handler again this many times")
	fl.DurationVar(&fs.Backoff, "backoff", time.Second, "pause before a retry, doubling each time up to 1m")
	fl.StringVar(&fs.OnFail, "on-fail", "", "after the last failed try: requeue, reject, dead-letter=DEST or stop;\nor retry=30s,2m[,ACTION]: wait in the broker, then ACTION\n(default: requeue on RabbitMQ and JetStream; stop on Kafka and core NATS, which cannot deliver one message again)")
	fl.IntVar(&fs.Concurrency, "concurrency", 1, "handlers running at once (Kafka keeps order per partition)")
	fl.StringVar(&fs.Grep, "grep", "", "only messages whose value matches this regular expression")
	fl.StringVar(&fs.KeyGrep, "key-grep", "", "only messages whose key matches this regular expression")
	fl.StringArrayVar(&fs.Headers, "header", nil, "only messages with this header name=value (or name); repeatable, all must match")
	nonEmpty(fl, "exec", "serve")
	_ = c.RegisterFlagCompletionFunc("group", completeFlagNames(f, broker.NamesGroups))
	_ = c.RegisterFlagCompletionFunc("ack", cobra.FixedCompletions([]string{"after-output", "none"}, cobra.ShellCompDirectiveNoFileComp))
	_ = c.RegisterFlagCompletionFunc("on-fail", cobra.FixedCompletions([]string{"requeue", "reject", "dead-letter=", "stop", "retry="}, cobra.ShellCompDirectiveNoSpace))
	_ = c.RegisterFlagCompletionFunc("from", cobra.FixedCompletions([]string{"beginning", "end", "stored"}, cobra.ShellCompDirectiveNoFileComp))
	return c
}

func consumeRun(o *ConsumeOptions) error {
	f, fs, ctx := o.f, &o.Flags, o.Ctx
	// Everything below is checked before anything is consumed.
	run, err := fs.RunOptions(o.Changed, f.IO.Out, f.IO.Err)
	if err != nil {
		return err
	}
	if o.Changed("from") {
		if fs.Consumer.From, err = consume.ParseFrom(fs.From, time.Now()); err != nil {
			return err
		}
	}
	fs.Consumer.Sources = o.Sources
	fs.Consumer.Logf = f.Warnf

	conn, t, err := f.Open(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	caps, _ := broker.CapabilitiesOf(conn)
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
		if fs.OutputGiven {
			format = f.Global.Output
		}
		if run.Printer, err = consume.NewPrinter(format, run.Broker); err != nil {
			return err
		}
		if f.IO.OutTTY {
			run.Printer = consume.ForTerminal(run.Printer)
		}
	}
	if err := fs.CheckBroker(caps, o.Changed, &run); err != nil {
		return err
	}
	subscriber, err := broker.As[broker.Subscriber](conn, "consuming")
	if err != nil {
		return err
	}
	var ln net.Listener
	if fs.Serve != "" {
		if ln, err = listenServe(fs.Serve); err != nil {
			return err
		}
		defer ln.Close()
	}
	closeOnFail, err := openOnFail(ctx, conn, t, caps, fs, &run)
	if err != nil {
		return err
	}
	defer closeOnFail()
	if run.Peek && caps.PeekHolds && fs.Count > int64(fs.Consumer.Prefetch) {
		// A peek that holds every delivery unacked (RabbitMQ) sees at
		// most prefetch of them.
		fs.Consumer.Prefetch = int(fs.Count)
	}

	st := &consume.Stats{}
	if fs.Serve != "" {
		srv, err := startConsumeServer(ctx, f, t, o, &run, st, ln)
		if err != nil {
			return err
		}
		defer func() {
			if err := srv.close(); err != nil {
				f.Warnf("--serve: %v", err)
			}
		}()
	}
	cctx, cancel := withTimeout(ctx, t)
	consumer, err := subscriber.NewConsumer(cctx, fs.Consumer)
	cancel()
	if err != nil {
		return err
	}
	// A closed stdout (| head) must end the run cleanly with what was
	// written acked, not kill mqctl with SIGPIPE.
	signal.Ignore(syscall.SIGPIPE)
	defer signal.Reset(syscall.SIGPIPE)

	tuneGC(f)
	if run.Exec != nil {
		run.StopCause = errTerminated
	}
	start := time.Now()
	runErr := consume.Run(ctx, consumer, f.IO.Out, st, run)
	fmt.Fprintf(f.IO.Err, "mqctl: %s\n", st.Summary(time.Since(start)))
	runErr = broker.Scrub(runErr, t.Secrets()...)
	if runErr != nil && errors.Is(context.Cause(ctx), errTerminated) {
		// A drained run keeps its own exit code: RunRoot would call any
		// error after a signal an interrupt.
		output.ErrLine(f.IO.Err, "", strings.ReplaceAll(strings.TrimSpace(runErr.Error()), "\n", " "))
		return &exitError{code: mqerr.ExitCode(runErr)}
	}
	return runErr
}
