package cmd

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

type lsOptions struct {
	internal bool
}

func newLsCmd(f *Factory) *cobra.Command {
	o := &lsOptions{}
	c := &cobra.Command{
		Use:   "ls [NAME...]",
		Short: "List the topics, queues or streams of the current context",
		Long: `List destinations: Kafka topics with partitions, message counts and groups;
RabbitMQ queues with ready, unacked and consumers (management API); JetStream streams
with subjects, messages, bytes and consumers. NAMEs list only those (exit 5 naming any
that does not exist).

RabbitMQ's management API samples its counts every few seconds (5 s by default), and has
none for a queue declared a moment ago: such counts show "?" (JSON: "stats": "absent",
messages 0, no ready or unacked) and a note on stderr says so. Queues named on the command
line are also read exactly over AMQP (a passive declare: ready and consumers); "stats" says
"behind" when the API's figures were older.`,
		Example: `  mqctl ls
  mqctl ls orders.created -o json     # exact ready count on RabbitMQ
  mqctl ls --internal                 # Kafka: include __consumer_offsets`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return lsRun(cmd, f, o, args)
		},
	}
	c.Flags().BoolVar(&o.internal, "internal", false, "include internal topics such as __consumer_offsets (Kafka; refused elsewhere)")
	return c
}

func lsRun(cmd *cobra.Command, f *Factory, o *lsOptions, names []string) error {
	format, err := f.Format()
	if err != nil {
		return err
	}
	conn, t, err := f.Open(cmd.Context())
	if err != nil {
		return err
	}
	defer conn.Close()
	lister, err := broker.As[broker.Lister](conn, "listing destinations")
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(cmd.Context(), t)
	defer cancel()
	dests, err := lister.List(ctx, broker.ListQuery{Names: names, Internal: o.internal})
	if o.internal && mqerr.Is(err, mqerr.Unsupported) {
		return mqerr.Usagef("--internal: %v", err)
	}
	if err != nil {
		return err
	}
	for i := range dests {
		dests[i].Context = t.Context
	}
	err = output.List(f.IO, format, dests, func(ds []broker.Destination) output.Table {
		return destinationTable(conn.Broker(), ds)
	})
	if err != nil {
		return err
	}
	lsStatsNote(f, dests)
	var missing []string
	for _, n := range names {
		if !slices.ContainsFunc(dests, func(d broker.Destination) bool { return d.Name == n }) && !slices.Contains(missing, strconv.Quote(n)) {
			missing = append(missing, strconv.Quote(n))
		}
	}
	if len(missing) > 0 {
		return mqerr.New(mqerr.NotFound, "no topic, queue or stream named %s", strings.Join(missing, ", "))
	}
	return nil
}

// lsStatsNote says on stderr which counts are unknown or were behind.
func lsStatsNote(f *Factory, ds []broker.Destination) {
	var rows []lag.Row
	for _, d := range ds {
		rows = append(rows, lag.Row{Queue: d.Name, Stats: d.Stats})
	}
	if note := statsNote(rows, "mqctl ls QUEUE"); note != "" {
		fmt.Fprintf(f.IO.Err, "mqctl: note: %s\n", note)
	}
}

// destinationTable shapes destinations with the columns that mean something
// on their broker.
func destinationTable(brokerName string, ds []broker.Destination) output.Table {
	var t output.Table
	switch brokerName {
	case "kafka":
		t.Header = []string{"TOPIC", "PARTITIONS", "MESSAGES", "GROUPS"}
		for _, d := range ds {
			t.Rows = append(t.Rows, []string{d.Name, strconv.Itoa(d.Partitions), i64(d.Messages), strconv.Itoa(d.Consumers)})
		}
	case "rabbitmq":
		t.Header = []string{"QUEUE", "TYPE", "READY", "UNACKED", "MESSAGES", "CONSUMERS"}
		marked := slices.ContainsFunc(ds, func(d broker.Destination) bool {
			return d.Stats == lag.StatsAbsent || d.Stats == lag.StatsBehind
		})
		if marked {
			t.Header = append(t.Header, "STATS")
		}
		for _, d := range ds {
			row := []string{d.Name, dash(d.QueueType), optI64(d.Ready), optI64(d.Unacked), i64(d.Messages), strconv.Itoa(d.Consumers)}
			if d.Stats == lag.StatsAbsent {
				// Unknown, not empty.
				row = []string{d.Name, dash(d.QueueType), "?", "?", "?", "?"}
			}
			if marked {
				row = append(row, dash(d.Stats))
			}
			t.Rows = append(t.Rows, row)
		}
	default:
		t.Header = []string{"STREAM", "SUBJECTS", "MESSAGES", "BYTES", "CONSUMERS"}
		for _, d := range ds {
			t.Rows = append(t.Rows, []string{d.Name, strings.Join(d.Subjects, ","), i64(d.Messages), strconv.FormatUint(d.Bytes, 10), strconv.Itoa(d.Consumers)})
		}
	}
	return t
}

func i64(v int64) string { return strconv.FormatInt(v, 10) }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// optI64 prints a count the broker may not have given: "?" when unknown.
func optI64(v *int64) string {
	if v == nil {
		return "?"
	}
	return i64(*v)
}
