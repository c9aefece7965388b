package cmd

import (
	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/dlq"
)

// NewCmdDLQPurge builds `dlq purge`; runF, when given, receives the
// options instead of the run.
func NewCmdDLQPurge(f *Factory, runF func(*DLQMoveOptions) error) *cobra.Command {
	o := newDLQMoveOptions(f, "purge")
	c := &cobra.Command{
		Use:   "purge SOURCE",
		Short: "Delete dead letters, all or those matching filters, after exporting them if asked",
		Long: `Delete the dead letters of SOURCE. Without filters: everything it holds at the start (RabbitMQ
queue.purge, Kafka DeleteRecords up to the end offsets, JetStream stream purge up to the last
sequence). With filters only the matching ones go; the others stay (RabbitMQ: moved to the tail
in their order; JetStream: untouched). Kafka cannot delete single records, so it refuses filters.

--export FILE first writes each dead letter to FILE as jsonl and syncs it to disk, and only then
deletes it. FILE must not exist; it is created (mode 0600) with the first dead letter, so a run
that reads nothing leaves none. At the end mqctl prints the 'mqctl produce' command that restores
them, ready to paste. On a terminal you type the source's name to confirm; without one --yes is
required.`,
		Example: `  mqctl dlq purge orders.dlq --export orders-dlq.jsonl
  mqctl dlq purge orders.dlq --reason expired --yes
  mqctl dlq purge ORDERS_DLQ --dry-run`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNames(f, broker.NamesDestinations, 1),
		RunE:              o.runE(runF, dlqPurgeRun),
	}
	o.registerCommon(c)
	c.Flags().StringVar(&o.export, "export", "", "write the dead letters to this new file as jsonl before deleting them")
	nonEmpty(c.Flags(), "export")
	return c
}

func dlqPurgeRun(o *DLQMoveOptions) error {
	src, err := o.openSource(o.Ctx, o.Source)
	if err != nil {
		return err
	}
	defer src.Conn.Close()
	if err := src.CheckHeld("in-flight", o.inFlight); err != nil {
		return err
	}
	if err := dlq.CheckPurge(src, o.Filter); err != nil {
		return err
	}
	if !o.dryRun {
		if err := requireWritable(src.Target, "dlq purge"); err != nil {
			return err
		}
	}
	j := &dlq.PurgeJob{Job: o.job(src), Export: o.export, URLFlag: o.f.Global.URL != ""}
	return j.Run(o.Ctx)
}
