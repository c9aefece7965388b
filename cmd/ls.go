package cmd

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/listing"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

// LsOptions is what `mqctl ls` needs once its flags are parsed.
type LsOptions struct {
	IO     *output.Streams
	Format output.Format
	Ctx    context.Context
	Open   func(context.Context) (broker.Conn, broker.Target, error)

	Names    []string
	Internal bool
}

func newLsCmd(f *Factory) *cobra.Command { return NewCmdLs(f, nil) }

// NewCmdLs builds `mqctl ls`; runF, when given, receives the options
// instead of the run.
func NewCmdLs(f *Factory, runF func(*LsOptions) error) *cobra.Command {
	o := &LsOptions{IO: f.IO, Open: f.Open}
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
		ValidArgsFunction: completeNames(f, broker.NamesDestinations, 0),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			o.Ctx, o.Names = cmd.Context(), args
			if o.Format, err = f.Format(); err != nil {
				return err
			}
			if runF != nil {
				return runF(o)
			}
			return lsRun(o)
		},
	}
	c.Flags().BoolVar(&o.Internal, "internal", false, "include internal topics such as __consumer_offsets (Kafka; refused elsewhere)")
	return c
}

func lsRun(o *LsOptions) error {
	conn, t, err := o.Open(o.Ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	lister, err := broker.As[broker.Lister](conn, "listing destinations")
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(o.Ctx, t)
	defer cancel()
	dests, err := lister.List(ctx, broker.ListQuery{Names: o.Names, Internal: o.Internal})
	if o.Internal && mqerr.Is(err, mqerr.Unsupported) {
		return mqerr.Usagef("--internal: %v", err)
	}
	if err != nil {
		return err
	}
	listing.InContext(dests, t.Context)
	caps, _ := broker.CapabilitiesOf(conn)
	err = output.List(o.IO, o.Format, dests, func(ds []broker.Destination) output.Table {
		return listing.Table(caps.DestinationKind, ds)
	})
	if err != nil {
		return err
	}
	if note := statsNote(listing.StatsRows(dests), "mqctl ls QUEUE"); note != "" {
		fmt.Fprintf(o.IO.Err, "mqctl: note: %s\n", note)
	}
	if missing := listing.Missing(o.Names, dests); len(missing) > 0 {
		return mqerr.New(mqerr.NotFound, "no topic, queue or stream named %s", strings.Join(missing, ", "))
	}
	return nil
}
