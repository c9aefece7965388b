package cmd

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
	"github.com/mqctl/mqctl/internal/produce"
)

// ProduceOptions is what `mqctl produce` needs once its flags are parsed
// and checked against each other (nothing is connected yet).
type ProduceOptions struct {
	IO  *output.Streams
	Ctx context.Context
	// Values are the VALUE arguments; Open opens the input anew for each
	// --count pass (File, Format and Delimiter frame it).
	Values                  []string
	Open                    func() (produce.Reader, error)
	File, Format, Delimiter string
	// Message holds the flags that shape every message; Decoration is
	// what they add, Producer the producer's options (Destination set).
	Message     produce.Flags
	Decoration  produce.Decoration
	Producer    broker.ProducerOptions
	Count       int
	Rate        float64
	Progress    bool
	FailedOut   string
	SkipInvalid bool
	// changed reports whether a flag was given on the command line.
	changed func(name string) bool
	f       *Factory
}

// NewCmdProduce builds `mqctl produce`; runF, when given, receives the
// options instead of the run (tests check the parsing there).
func NewCmdProduce(f *Factory, runF func(*ProduceOptions) error) *cobra.Command {
	o := &ProduceOptions{f: f, IO: f.IO}
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
jsonl, with its error and the destination it was sent to. To resend them, name DEST again:
'mqctl produce DEST --format jsonl --file FILE'. DEST (or --queue) is required and replaces the
file's topic, exchange or subject; the rest of each message (key, value, headers, properties,
routing_key unless --routing-key or --queue is given, partition with --partitioner manual)
is sent as it was. FILE is created (mode 0600: it holds payloads) at the first failure; one that
exists is emptied once sending starts, so it never holds an earlier run's failures.
Core NATS (--core) has no confirm: mqctl flushes and checks the connection, and says so.

Flags that mean nothing on the context's broker are refused (exit 2), and so is a flag the
broker would refuse on every message (--expiration soon, --partition 99 of a 4-partition
topic, -H a=1 -H a=2 on RabbitMQ), before anything is read or sent.

JetStream acknowledges a message whose Nats-Msg-Id it stored within its duplicate window
without storing it again: the summary counts those as duplicates, not as confirmed.

Exit codes: 0 all confirmed (or duplicates), 3 some failed, 2 bad input (also when
--skip-invalid skipped every line), 4 auth, 5 destination missing, 130 interrupted
(in-flight confirms are still awaited and reported; messages read but not yet sent are
counted as "not sent" and written to --failed-out).`,

		Example: `  mqctl produce orders '{"id":1}' -k customer-7 -H source=cli
  mqctl produce orders --file dump.jsonl --format jsonl --failed-out failed.jsonl
  mqctl produce amq.topic --routing-key order.created --file orders.txt
  mqctl produce --queue jobs 'do-this' --priority 5
  mqctl produce orders.created --msg-id '{{.N}}' < orders.txt   # JetStream dedupe by line
  seq 1000000 | mqctl produce bench --progress --in-flight 20000`,

		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx, o.changed = cmd.Context(), cmd.Flags().Changed
			if err := o.parse(args); err != nil {
				return err
			}
			if runF != nil {
				return runF(o)
			}
			return produceRun(o)
		},
	}
	fl := c.Flags()
	fl.StringVar(&o.File, "file", "", "read messages from this file instead of stdin")
	fl.StringVar(&o.Format, "format", "lines", "input framing: lines, jsonl or raw")
	fl.StringVar(&o.Delimiter, "delimiter", `\n`, `line delimiter for --format lines, one byte (\n, \t, \0 or a character)`)
	fl.StringVarP(&o.Message.Key, "key", "k", "", "message key (Kafka); overrides the input's key")
	fl.StringArrayVarP(&o.Message.Headers, "header", "H", nil, "header name=value (repeatable, order kept, repeated names allowed)")
	fl.StringVar(&o.Message.Traceparent, "traceparent", "", "auto: add a fresh W3C traceparent header (version 00, random ids, sampled) to each message without one")
	fl.Int32Var(&o.Message.Partition, "partition", -1, "Kafka partition for every message (implies --partitioner manual)")
	fl.StringVar(&o.Producer.Partitioner, "partitioner", "murmur2", "Kafka partitioner: murmur2 (like the Java client), round-robin or manual (the input's partition)")
	fl.StringVar(&o.Producer.Compression, "compression", "snappy", "Kafka batch compression: snappy (cheap, like franz-go's default), none, gzip, lz4 or zstd")
	fl.StringVar(&o.Producer.Acks, "acks", "all", "Kafka acks: all (idempotent producer), 1 or 0")
	fl.StringVar(&o.Message.RoutingKey, "routing-key", "", "RabbitMQ routing key (default: the input's routing_key)")
	fl.StringVar(&o.Message.Queue, "queue", "", "RabbitMQ: publish to this queue through the default exchange (no DEST)")
	fl.BoolVar(&o.Producer.Persistent, "persistent", true, "RabbitMQ: persistent delivery mode")
	fl.BoolVar(&o.Producer.Mandatory, "mandatory", true, "RabbitMQ: unroutable messages fail instead of vanishing")
	fl.StringVar(&o.Message.Properties.ContentType, "content-type", "", "RabbitMQ content-type property")
	fl.StringVar(&o.Message.Properties.MessageID, "message-id", "", "RabbitMQ message-id property")
	fl.StringVar(&o.Message.Properties.CorrelationID, "correlation-id", "", "RabbitMQ correlation-id property")
	fl.StringVar(&o.Message.Properties.ReplyTo, "reply-to", "", "RabbitMQ reply-to property")
	fl.StringVar(&o.Message.Properties.Expiration, "expiration", "", "RabbitMQ per-message TTL: a whole number of milliseconds (60000 is a minute)")
	fl.Uint8Var(&o.Message.Priority, "priority", 0, "RabbitMQ priority property")
	fl.StringVar(&o.Message.Properties.Type, "type", "", "RabbitMQ type property")
	fl.StringVar(&o.Message.Properties.AppID, "app-id", "", "RabbitMQ app-id property")
	fl.StringVar(&o.Message.MsgID, "msg-id", "", "JetStream Nats-Msg-Id template, e.g. '{{.N}}' or '{{sha256 .Value}}' (default: generated per message)")
	fl.BoolVar(&o.Producer.Core, "core", false, "NATS: core publish without JetStream (no confirm)")
	fl.IntVar(&o.Count, "count", 1, "send the input this many times")
	fl.Float64Var(&o.Rate, "rate", 0, "at most this many messages per second (0: unlimited)")
	fl.IntVar(&o.Producer.InFlight, "in-flight", 10000, "messages awaiting confirm at most")
	fl.DurationVar(&o.Producer.ConfirmTimeout, "confirm-timeout", 30*time.Second, "fail a message whose confirm takes longer")
	fl.BoolVar(&o.Progress, "progress", false, "show progress on stderr (terminal only)")
	fl.StringVar(&o.FailedOut, "failed-out", "", "write every failed message to this file as jsonl (0600, created at the first failure)")
	nonEmpty(fl, "file", "queue", "failed-out")
	fl.BoolVar(&o.SkipInvalid, "skip-invalid", false, "--format jsonl: report invalid lines and go on")
	_ = c.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"lines", "jsonl", "raw"}, cobra.ShellCompDirectiveNoFileComp))
	_ = c.RegisterFlagCompletionFunc("compression", cobra.FixedCompletions([]string{"none", "gzip", "snappy", "lz4", "zstd"}, cobra.ShellCompDirectiveNoFileComp))
	_ = c.RegisterFlagCompletionFunc("partitioner", cobra.FixedCompletions([]string{"murmur2", "round-robin", "manual"}, cobra.ShellCompDirectiveNoFileComp))
	_ = c.RegisterFlagCompletionFunc("acks", cobra.FixedCompletions([]string{"all", "1", "0"}, cobra.ShellCompDirectiveNoFileComp))
	return c
}

// parse checks the flags and arguments that need no broker.
func (o *ProduceOptions) parse(args []string) error {
	o.Values = args
	if o.Message.Queue != "" {
		o.Producer.DestinationIsQueue = true
		o.Producer.Destination = o.Message.Queue
	} else {
		if len(args) == 0 {
			return mqerr.Usagef("produce: DEST is required (a topic, exchange or subject; or --queue Q)")
		}
		o.Producer.Destination, o.Values = args[0], args[1:]
	}
	var err error
	if o.Decoration, err = o.Message.Decoration(&o.Producer, o.changed); err != nil {
		return err
	}
	o.Open, err = produce.OpenInput(produce.InputOptions{
		Values: o.Values, File: o.File, Format: o.Format,
		Delimiter: o.Delimiter, DelimiterSet: o.changed("delimiter"),
		SkipInvalid: o.SkipInvalid, Count: o.Count,
		In: o.IO.In, InTTY: o.IO.InTTY, Notice: o.IO.Err,
	})
	switch {
	case err != nil:
		return err
	case o.Count < 1:
		return mqerr.Usagef("--count %d: want 1 or more", o.Count)
	case o.Rate < 0:
		return mqerr.Usagef("--rate %g: want 0 (unlimited) or more", o.Rate)
	case o.Producer.InFlight < 1:
		return mqerr.Usagef("--in-flight %d: want 1 or more", o.Producer.InFlight)
	}
	return nil
}

func produceRun(o *ProduceOptions) error {
	ctx, f, deco := o.Ctx, o.f, o.Decoration
	conn, t, err := f.Open(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := requireWritable(t, "produce"); err != nil {
		return err
	}
	caps, _ := broker.CapabilitiesOf(conn)
	if err := checkBrokerFlags(o.changed, caps); err != nil {
		return err
	}
	// A jsonl restore sends each message as it was dumped: no id of
	// mqctl's own for one that had none (README).
	deco.GenerateMsgID = caps.MsgIDDedup && !o.Producer.Core && o.Format != "jsonl"
	if caps.MetaKind != broker.MetaAMQP {
		deco.Properties = broker.AMQPMeta{} // --persistent defaults on; it means nothing elsewhere
	}
	publisher, err := broker.As[broker.Publisher](conn, "producing")
	if err != nil {
		return err
	}
	if o.FailedOut != "" {
		if err := produce.CheckFailedOut(o.FailedOut, o.File, o.IO.In); err != nil {
			return err
		}
	}
	pctx, cancel := withTimeout(ctx, t)
	p, err := publisher.NewProducer(pctx, o.Producer)
	cancel()
	if err != nil {
		return err
	}
	if err := produce.CheckDecoration(p, deco); err != nil {
		p.Close()
		return err
	}
	if o.Producer.Core {
		f.Warnf("core NATS has no confirm: messages are flushed to the server, not confirmed as stored")
	}
	tuneGC(f)
	var src produce.Reader = produce.NewRepeat(o.Count, o.Open)
	if o.File == "" && len(o.Values) == 0 {
		// stdin may block forever (a terminal, an idle pipe): read it aside
		// so that Ctrl-C is answered at once.
		src = produce.NewInterruptible(ctx, src)
	}
	return produce.Send(ctx, p, src, produce.SendOptions{
		Options: produce.Options{
			Broker:       conn.Broker(),
			Prepare:      deco.Prepare(),
			Rate:         o.Rate,
			SkipInvalid:  o.SkipInvalid,
			FlushTimeout: o.Producer.ConfirmTimeout + 5*time.Second,
			Log:          o.IO.Err,
			Verbose:      f.Global.Verbose > 0,
			Scrub:        func(s string) string { return broker.ScrubString(s, f.secrets...) },
		},
		FailedOutPath: o.FailedOut, Err: o.IO.Err, Progress: o.Progress && o.IO.ErrTTY,
	})
}

// checkBrokerFlags refuses flags that mean nothing on the context's broker,
// so a typo'd expectation fails loudly instead of being ignored.
func checkBrokerFlags(changed func(string) bool, caps broker.Capabilities) error {
	if err := caps.CheckFlags("produce", changed); err != nil {
		return err
	}
	if caps.KeyMeaning != "record key" && changed("key") {
		return mqerr.Usagef("-k/--key: %s messages have no key (use -H to send it as a header)", caps.Name)
	}
	return nil
}
