package cmd

import (
	"bufio"
	"context"
	"fmt"
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

// consumer opens SOURCE for reading what it holds now. peek reads
// without side effects; otherwise an ack removes the dead letter: RabbitMQ
// ack, a Kafka commit in group, a JetStream delete.
func (s *dlqSource) consumer(ctx context.Context, f *Factory, peek bool, group string, prefetch int) (broker.Consumer, error) {
	sub, err := broker.As[broker.Subscriber](s.conn, "reading dead letters")
	if err != nil {
		return nil, err
	}
	o := broker.ConsumerOptions{Sources: []string{s.name}, UntilEnd: true, Peek: peek, Prefetch: prefetch, Logf: f.Warnf}
	switch s.broker() {
	case "kafka":
		if !peek {
			o.Group = group
		} else {
			o.From = broker.StartPosition{Kind: broker.StartBeginning}
		}
	case "nats":
		o.AckDeletes = !peek
	}
	cctx, cancel := withTimeout(ctx, s.target)
	defer cancel()
	return sub.NewConsumer(cctx, o)
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
