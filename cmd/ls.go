package cmd

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/output"
)

type lsOptions struct {
	internal bool
}

func newLsCmd(f *Factory) *cobra.Command {
	o := &lsOptions{}
	c := &cobra.Command{
		Use:   "ls",
		Short: "List the topics, queues or streams of the current context",
		Long: `List destinations: Kafka topics with partitions, message counts and groups;
RabbitMQ queues with ready, unacked and consumers (management API); JetStream streams
with subjects, messages, bytes and consumers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return lsRun(cmd, f, o)
		},
	}
	c.Flags().BoolVar(&o.internal, "internal", false, "include internal topics such as __consumer_offsets")
	return c
}

func lsRun(cmd *cobra.Command, f *Factory, o *lsOptions) error {
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
	dests, err := lister.List(ctx)
	if err != nil {
		return err
	}
	shown := dests[:0]
	for _, d := range dests {
		if d.Internal && !o.internal {
			continue
		}
		d.Context = t.Context
		shown = append(shown, d)
	}
	return output.List(f.IO, format, shown, func(ds []broker.Destination) output.Table {
		return destinationTable(conn.Broker(), ds)
	})
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
		for _, d := range ds {
			t.Rows = append(t.Rows, []string{d.Name, d.QueueType, optI64(d.Ready), optI64(d.Unacked), i64(d.Messages), strconv.Itoa(d.Consumers)})
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

func optI64(v *int64) string {
	if v == nil {
		return "-"
	}
	return i64(*v)
}
