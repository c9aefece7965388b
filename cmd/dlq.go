package cmd

import (
	"bufio"
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/dlq"
	"github.com/mqctl/mqctl/internal/mqerr"
)

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
	}
	c.AddCommand(newDLQLsCmd(f), newDLQPeekCmd(f), newDLQStatsCmd(f), newDLQReplayCmd(f), newDLQMoveCmd(f), newDLQPurgeCmd(f))
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

// dlqSource opens the context's connection and checks it can read SOURCE.
type dlqSource struct {
	conn   broker.Conn
	target broker.Target
	name   string
}

func openDLQSource(ctx context.Context, f *Factory, name string) (*dlqSource, error) {
	conn, t, err := f.Open(ctx)
	if err != nil {
		return nil, err
	}
	return &dlqSource{conn: conn, target: t, name: name}, nil
}

func (s *dlqSource) Close() { s.conn.Close() }

func (s *dlqSource) broker() string { return s.conn.Broker() }

// readMode says how a dlq command reads its source.
type readMode int

const (
	// readPeek reads from the start without side effects, as far as the
	// broker allows (RabbitMQ marks what it returns redelivered).
	readPeek readMode = iota
	// readDryRun is a peek that starts where the real run would: on
	// Kafka at the commits of the run's group.
	readDryRun
	// readRemove reads so that an ack removes the dead letter: a RabbitMQ
	// ack, a commit in the Kafka group, a JetStream delete.
	readRemove
)

// consumer opens SOURCE for reading what it holds now, in mode.
func (s *dlqSource) consumer(ctx context.Context, f *Factory, mode readMode, group string, prefetch int) (broker.Consumer, error) {
	sub, err := broker.As[broker.Subscriber](s.conn, "reading dead letters")
	if err != nil {
		return nil, err
	}
	o := broker.ConsumerOptions{Sources: []string{s.name}, UntilEnd: true, Peek: mode != readRemove, Prefetch: prefetch, Logf: f.Warnf}
	switch s.broker() {
	case "kafka":
		switch mode {
		case readPeek:
			o.From = broker.StartPosition{Kind: broker.StartBeginning}
		default:
			// A peek with a group reads from its commits without joining.
			o.Group = group
		}
	case "nats":
		o.AckDeletes = mode == readRemove
	}
	cctx, cancel := withTimeout(ctx, s.target)
	defer cancel()
	return sub.NewConsumer(cctx, o)
}

// getter follows JetStream advisories to their messages; nil on brokers
// that hold none.
func (s *dlqSource) getter() broker.MessageGetter {
	g, _ := s.conn.(broker.MessageGetter)
	return g
}

// amqpMaxHeld is the most deliveries a RabbitMQ consumer holds unacked:
// basic.qos carries the prefetch count in 16 bits. A peek, a dry run and
// stats hold everything they read; replay holds its in-flight window.
const amqpMaxHeld = 65535

// checkHeld refuses a count flag that would make a RabbitMQ consumer hold
// more than it can, naming the flag rather than the prefetch behind it.
func checkHeld(brokerName, flag string, n int) error {
	if brokerName == "rabbitmq" && n > amqpMaxHeld {
		return mqerr.Usagef("--%s %d: RabbitMQ holds at most %d messages unacked at a time (basic.qos is 16 bits)", flag, n, amqpMaxHeld)
	}
	return nil
}

// refuseFlags refuses the flags set on cmd that mean nothing on
// brokerName: only maps each flag to the one broker it applies to.
func refuseFlags(cmd *cobra.Command, brokerName string, only map[string]string) error {
	names := make([]string, 0, len(only))
	for n := range only {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if b := only[n]; b != brokerName && cmd.Flags().Changed(n) {
			return mqerr.Usagef("--%s applies to %s only, and this context is %s", n, b, brokerName)
		}
	}
	return nil
}

// checkThresholds refuses --warn and --crit without --check, which would
// be ignored, and bad thresholds with it.
func checkThresholds(cmd *cobra.Command, check bool, th dlq.CheckThresholds) error {
	if !check {
		for _, n := range []string{"warn", "crit"} {
			if cmd.Flags().Changed(n) {
				return mqerr.Usagef("--%s goes with --check", n)
			}
		}
		return nil
	}
	return th.Validate()
}

// confirm asks before a destructive run: on a terminal the user types
// want (the source's name, or "yes"); without one --yes is required.
func confirm(f *Factory, yes bool, question, want string) error {
	if yes {
		return nil
	}
	if !f.IO.InTTY {
		return mqerr.Usagef("%s: pass --yes to confirm (no terminal to ask on)", question)
	}
	fmt.Fprintf(f.IO.Err, "%s\nType %q to go on: ", question, want)
	line, err := bufio.NewReader(f.IO.In).ReadString('\n')
	if err != nil && line == "" {
		return mqerr.Usagef("not confirmed")
	}
	if strings.TrimSpace(line) != want {
		return mqerr.Usagef("not confirmed: you typed %q, not %q", strings.TrimSpace(line), want)
	}
	return nil
}

// age formats how long ago t was, "-" when unknown.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
