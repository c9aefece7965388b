package cmd

import (
	"fmt"
	"io"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
	"github.com/mqctl/mqctl/internal/produce"
)

type produceOptions struct {
	file, format, delimiter string
	key                     string
	headers                 []string
	partition               int32
	producer                broker.ProducerOptions
	routingKey, queue       string
	props                   broker.AMQPMeta
	priority                uint8
	msgID                   string
	count                   int
	rate                    float64
	progress                bool
	failedOut               string
	skipInvalid             bool
}

func newProduceCmd(f *Factory) *cobra.Command {
	o := &produceOptions{}
	c := &cobra.Command{
		Use:     "produce DEST [VALUE...]",
		Aliases: []string{"pub"},
		Short:   "Publish messages with confirms; exit 0 only when the broker confirmed every one",
		Long: `Publish messages to a Kafka topic, a RabbitMQ exchange (or --queue), or a NATS subject.
Values come from the arguments, --file or stdin, framed by --format:
  lines  one message per line (--delimiter, default newline)
  jsonl  the envelope that 'mqctl consume -o jsonl' writes (see README)
  raw    the whole input is one message

Every message is confirmed (Kafka acks=all with the idempotent producer, RabbitMQ publisher
confirms with mandatory, JetStream PubAck) or reported as failed. The last line counts the
failures by reason, most frequent first (at most three named, the rest summed up), e.g.
  mqctl: 3 of 10 messages failed: 2 × NO_ROUTE (312), 1 × MESSAGE_TOO_LARGE (max.message.bytes 1048588)
-v prints each message's outcome. With --failed-out FILE every failed message is written as
jsonl, with its error and the destination it was sent to, which 'mqctl produce --format jsonl'
resends as is. FILE is created (mode 0600: it holds payloads) at the first failure; one that
exists is emptied once sending starts, so it never holds an earlier run's failures.
Core NATS (--core) has no confirm: mqctl flushes and checks the connection, and says so.

Flags that mean nothing on the context's broker are refused (exit 2), and so is a flag the
broker would refuse on every message (--expiration soon, --partition 99 of a 4-partition
topic, -H a=1 -H a=2 on RabbitMQ), before anything is read or sent.

Exit codes: 0 all confirmed, 3 some failed, 2 bad input, 4 auth, 5 destination missing,
130 interrupted (in-flight confirms are still awaited and reported).`,
		Example: `  mqctl produce orders '{"id":1}' -k customer-7 -H source=cli
  mqctl produce orders --file dump.jsonl --format jsonl --failed-out failed.jsonl
  mqctl produce amq.topic --routing-key order.created --file orders.txt
  mqctl produce --queue jobs 'do-this' --priority 5
  mqctl produce orders.created --msg-id '{{.N}}' < orders.txt   # JetStream dedupe by line
  seq 1000000 | mqctl produce bench --progress --in-flight 20000`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return produceRun(cmd, f, o, args)
		},
	}
	fl := c.Flags()
	fl.StringVar(&o.file, "file", "", "read messages from this file instead of stdin")
	fl.StringVar(&o.format, "format", "lines", "input framing: lines, jsonl or raw")
	fl.StringVar(&o.delimiter, "delimiter", `\n`, `line delimiter for --format lines, one byte (\n, \t, \0 or a character)`)
	fl.StringVarP(&o.key, "key", "k", "", "message key (Kafka); overrides the input's key")
	fl.StringArrayVarP(&o.headers, "header", "H", nil, "header name=value (repeatable, order kept, repeated names allowed)")
	fl.Int32Var(&o.partition, "partition", -1, "Kafka partition for every message (implies --partitioner manual)")
	fl.StringVar(&o.producer.Partitioner, "partitioner", "murmur2", "Kafka partitioner: murmur2 (like the Java client), round-robin or manual (the input's partition)")
	fl.StringVar(&o.producer.Compression, "compression", "snappy", "Kafka batch compression: snappy (cheap, like franz-go's default), none, gzip, lz4 or zstd")
	fl.StringVar(&o.producer.Acks, "acks", "all", "Kafka acks: all (idempotent producer), 1 or 0")
	fl.StringVar(&o.routingKey, "routing-key", "", "RabbitMQ routing key (default: the input's routing_key)")
	fl.StringVar(&o.queue, "queue", "", "RabbitMQ: publish to this queue through the default exchange (no DEST)")
	fl.BoolVar(&o.producer.Persistent, "persistent", true, "RabbitMQ: persistent delivery mode")
	fl.BoolVar(&o.producer.Mandatory, "mandatory", true, "RabbitMQ: unroutable messages fail instead of vanishing")
	fl.StringVar(&o.props.ContentType, "content-type", "", "RabbitMQ content-type property")
	fl.StringVar(&o.props.MessageID, "message-id", "", "RabbitMQ message-id property")
	fl.StringVar(&o.props.CorrelationID, "correlation-id", "", "RabbitMQ correlation-id property")
	fl.StringVar(&o.props.ReplyTo, "reply-to", "", "RabbitMQ reply-to property")
	fl.StringVar(&o.props.Expiration, "expiration", "", "RabbitMQ per-message TTL: a whole number of milliseconds (60000 is a minute)")
	fl.Uint8Var(&o.priority, "priority", 0, "RabbitMQ priority property")
	fl.StringVar(&o.props.Type, "type", "", "RabbitMQ type property")
	fl.StringVar(&o.props.AppID, "app-id", "", "RabbitMQ app-id property")
	fl.StringVar(&o.msgID, "msg-id", "", "JetStream Nats-Msg-Id template, e.g. '{{.N}}' or '{{sha256 .Value}}' (default: generated per message)")
	fl.BoolVar(&o.producer.Core, "core", false, "NATS: core publish without JetStream (no confirm)")
	fl.IntVar(&o.count, "count", 1, "send the input this many times")
	fl.Float64Var(&o.rate, "rate", 0, "at most this many messages per second (0: unlimited)")
	fl.IntVar(&o.producer.InFlight, "in-flight", 10000, "messages awaiting confirm at most")
	fl.DurationVar(&o.producer.ConfirmTimeout, "confirm-timeout", 30*time.Second, "fail a message whose confirm takes longer")
	fl.BoolVar(&o.progress, "progress", false, "show progress on stderr (terminal only)")
	fl.StringVar(&o.failedOut, "failed-out", "", "write every failed message to this file as jsonl (0600, created at the first failure)")
	fl.BoolVar(&o.skipInvalid, "skip-invalid", false, "--format jsonl: report invalid lines and go on")
	_ = c.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"lines", "jsonl", "raw"}, cobra.ShellCompDirectiveNoFileComp))
	_ = c.RegisterFlagCompletionFunc("compression", cobra.FixedCompletions([]string{"none", "gzip", "snappy", "lz4", "zstd"}, cobra.ShellCompDirectiveNoFileComp))
	_ = c.RegisterFlagCompletionFunc("partitioner", cobra.FixedCompletions([]string{"murmur2", "round-robin", "manual"}, cobra.ShellCompDirectiveNoFileComp))
	_ = c.RegisterFlagCompletionFunc("acks", cobra.FixedCompletions([]string{"all", "1", "0"}, cobra.ShellCompDirectiveNoFileComp))
	return c
}

func produceRun(cmd *cobra.Command, f *Factory, o *produceOptions, args []string) error {
	ctx := cmd.Context()
	dest, values := "", args
	if o.queue != "" {
		o.producer.DestinationIsQueue = true
		dest = o.queue
	} else {
		if len(args) == 0 {
			return mqerr.Usagef("produce: DEST is required (a topic, exchange or subject; or --queue Q)")
		}
		dest, values = args[0], args[1:]
	}
	o.producer.Destination = dest
	deco, err := o.decoration(cmd)
	if err != nil {
		return err
	}
	open, err := o.input(cmd, f, values)
	if err != nil {
		return err
	}
	if o.count < 1 {
		return mqerr.Usagef("--count %d: want 1 or more", o.count)
	}
	if o.rate < 0 {
		return mqerr.Usagef("--rate %g: want 0 (unlimited) or more", o.rate)
	}
	if o.producer.InFlight < 1 {
		return mqerr.Usagef("--in-flight %d: want 1 or more", o.producer.InFlight)
	}

	conn, t, err := f.Open(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := requireWritable(t, "produce"); err != nil {
		return err
	}
	if err := checkBrokerFlags(cmd, conn.Broker(), o); err != nil {
		return err
	}
	// TODO(i12-capabilities): broker-name switch; whether the driver generates a message id (NATS dedup), and whether AMQP properties apply.
	deco.GenerateMsgID = conn.Broker() == "nats" && !o.producer.Core
	if conn.Broker() != "rabbitmq" {
		deco.Properties = broker.AMQPMeta{} // --persistent defaults on; it means nothing elsewhere
	}
	publisher, err := broker.As[broker.Publisher](conn, "producing")
	if err != nil {
		return err
	}
	if o.failedOut != "" {
		if err := produce.CheckFailedOut(o.failedOut, o.file, f.IO.In); err != nil {
			return err
		}
	}
	pctx, cancel := withTimeout(ctx, t)
	p, err := publisher.NewProducer(pctx, o.producer)
	cancel()
	if err != nil {
		return err
	}
	if err := produce.CheckDecoration(p, deco); err != nil {
		p.Close()
		return err
	}
	if o.producer.Core {
		f.Warnf("core NATS has no confirm: messages are flushed to the server, not confirmed as stored")
	}
	// Created at the first failure, so a run that fails before sending
	// (or sends everything) leaves no empty file behind; one left by an
	// earlier run is emptied now, so the file never shows old failures.
	var failedOut io.Writer
	var fo *produce.FailedOut
	if o.failedOut != "" {
		fo = produce.NewFailedOut(o.failedOut)
		if err := fo.Reset(); err != nil {
			p.Close()
			return err
		}
		defer fo.Close()
		failedOut = fo
	}

	tuneGC(f)
	st := &produce.Stats{}
	start := time.Now()
	stopProgress := startProgress(f, o.progress, func(el time.Duration) string {
		return fmt.Sprintf("sent %d  confirmed %d  failed %d  %.0f msgs/s",
			st.Sent.Load(), st.Confirmed.Load(), st.Failed.Load(), float64(st.Confirmed.Load())/el.Seconds())
	})
	var src produce.Reader = produce.NewRepeat(o.count, open)
	if o.file == "" && len(values) == 0 {
		// stdin may block forever (a terminal, an idle pipe): read it aside
		// so that Ctrl-C is answered at once.
		src = produce.NewInterruptible(ctx, src)
	}
	runErr := produce.Run(ctx, p, src, st, produce.Options{
		Broker:       conn.Broker(),
		Prepare:      deco.Prepare(),
		Rate:         o.rate,
		SkipInvalid:  o.skipInvalid,
		FlushTimeout: o.producer.ConfirmTimeout + 5*time.Second,
		FailedOut:    failedOut,
		Log:          f.IO.Err,
		Verbose:      f.Global.Verbose > 0,
		Scrub:        func(s string) string { return broker.ScrubString(s, f.secrets...) },
	})
	if fo != nil {
		if err := fo.Close(); err != nil && runErr == nil {
			runErr = fmt.Errorf("--failed-out: %w", err)
		}
	}
	stopProgress()
	fmt.Fprintf(f.IO.Err, "mqctl: %s\n", st.Summary(time.Since(start)))
	if runErr != nil && mqerr.Is(runErr, mqerr.Partial) && o.failedOut != "" {
		runErr = fmt.Errorf("%w; failed messages are in %s", runErr, o.failedOut)
	}
	return runErr
}

// decoration turns flags into what is added to every message.
func (o *produceOptions) decoration(cmd *cobra.Command) (produce.Decoration, error) {
	d := produce.Decoration{
		Destination: o.producer.Destination, DestinationIsQueue: o.producer.DestinationIsQueue,
		RoutingKey: o.routingKey, Properties: o.props,
	}
	if e := o.props.Expiration; e != "" {
		// RabbitMQ takes the TTL as text; anything but digits makes it
		// refuse the message (or close the channel), so check it here.
		if _, err := strconv.ParseUint(e, 10, 32); err != nil {
			return d, mqerr.Usagef("--expiration %q: want a whole number of milliseconds, 0 to 4294967295 (60000 is a minute)", e)
		}
	}
	d.Properties.Priority = o.priority
	d.Properties.Persistent = o.producer.Persistent
	if o.queue != "" {
		if o.routingKey != "" {
			return d, mqerr.Usagef("--queue and --routing-key exclude each other: --queue sends through the default exchange with the queue name as key")
		}
		d.RoutingKey = o.queue
	}
	if cmd.Flags().Changed("key") {
		d.Key = []byte(o.key)
	}
	for _, h := range o.headers {
		hdr, err := produce.ParseHeader(h)
		if err != nil {
			return d, err
		}
		d.Headers = append(d.Headers, hdr)
	}
	if cmd.Flags().Changed("partition") && o.partition < 0 {
		return d, mqerr.Usagef("--partition %d: want 0 or more", o.partition)
	}
	if o.partition >= 0 {
		p := o.partition
		d.Partition = &p
		if cmd.Flags().Changed("partitioner") && o.producer.Partitioner != "manual" {
			return d, mqerr.Usagef("--partition sends to one partition: it does not go with --partitioner %s", o.producer.Partitioner)
		}
		o.producer.Partitioner = "manual"
	}
	d.UseInputPartition = o.producer.Partitioner == "manual"
	if o.msgID != "" {
		t, err := produce.ParseMsgIDTemplate(o.msgID)
		if err != nil {
			return d, err
		}
		d.MsgID = t
	}
	return d, nil
}

// input returns a function that opens the input anew for each --count pass.
func (o *produceOptions) input(cmd *cobra.Command, f *Factory, values []string) (func() (produce.Reader, error), error) {
	return produce.OpenInput(produce.InputOptions{
		Values: values, File: o.file, Format: o.format,
		Delimiter: o.delimiter, DelimiterSet: cmd.Flags().Changed("delimiter"),
		SkipInvalid: o.skipInvalid, Count: o.count,
		In: f.IO.In, InTTY: f.IO.InTTY, Notice: f.IO.Err,
	})
}

// checkBrokerFlags refuses flags that mean nothing on the context's broker,
// so a typo'd expectation fails loudly instead of being ignored.
func checkBrokerFlags(cmd *cobra.Command, brokerName string, o *produceOptions) error {
	// TODO(i12-capabilities): broker-name switch; which produce flags each driver accepts; the driver validates its own options.
	only := map[string][]string{
		"kafka":    {"partition", "partitioner", "compression", "acks"},
		"rabbitmq": {"routing-key", "queue", "persistent", "mandatory", "content-type", "message-id", "correlation-id", "reply-to", "expiration", "priority", "type", "app-id"},
		"nats":     {"msg-id", "core"},
	}
	for b, names := range only {
		if b == brokerName {
			continue
		}
		for _, n := range names {
			if cmd.Flags().Changed(n) {
				return mqerr.Usagef("--%s applies to %s only, and this context is %s", n, b, brokerName)
			}
		}
	}
	// TODO(i12-capabilities): broker-name switch; whether the destination has message keys.
	if brokerName != "kafka" && cmd.Flags().Changed("key") {
		return mqerr.Usagef("-k/--key: %s messages have no key (use -H to send it as a header)", brokerName)
	}
	return nil
}

// startProgress prints a refreshing progress line on a terminal's stderr.
func startProgress(f *Factory, on bool, line func(elapsed time.Duration) string) (stop func()) {
	return output.StartProgress(f.IO.Err, on && f.IO.ErrTTY, output.ProgressInterval, line)
}

// tuneGC trades a little heap for CPU: produce and consume keep a bounded
// window in flight, so their live heap is small and steady, and collecting less often
// leaves CPU to the client library (and, on one machine, to the broker).
// The memory limit keeps the peak bounded. GOGC and GOMEMLIMIT still win.
func tuneGC(f *Factory) {
	if f.Getenv("GOGC") == "" {
		debug.SetGCPercent(300)
	}
	if f.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(40 << 20)
	}
}
