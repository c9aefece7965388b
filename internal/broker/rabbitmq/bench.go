package rabbitmq

import (
	"cmp"
	"context"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/broker"
)

var _ broker.BenchDestinations = (*Conn)(nil)
var _ broker.BenchPlanner = driver{}

// PlanBench implements broker.BenchPlanner: producers publish to the
// queue through the default exchange, mandatory, with confirms unless
// --confirm=false.
func (driver) PlanBench(run broker.BenchRun, plan *broker.BenchPlan) error {
	k, p := run.Knobs, &plan.Producer
	switch k.QueueType {
	case "", "classic", "quorum", "stream":
	default:
		return fmt.Errorf("--queue-type %q: want classic, quorum or stream", k.QueueType)
	}
	if k.QueueType == "stream" && run.Consumers > 1 {
		// A stream is not shared out: each consumer would read every
		// message, and the bench would count all but one copy duplicated.
		return fmt.Errorf("--consumers %d with --queue-type stream: every consumer of a stream reads all of it; use --consumers 1", run.Consumers)
	}
	plan.Destination.QueueType = k.QueueType
	p.DestinationIsQueue, p.Persistent, p.Mandatory, p.NoConfirm = true, k.Persistent, true, k.NoConfirm
	plan.Consumer.MultiAck = k.MultiAck
	return nil
}

// BenchParity implements broker.BenchPlanner. Quorum queues and streams
// write to disk before they confirm whatever the delivery mode.
func (driver) BenchParity(k broker.BenchKnobs) broker.BenchParity {
	s := broker.BenchParity{Confirm: "rabbitmq publisher confirms", FullConfirm: true,
		Disk: "rabbitmq on disk before the confirm", Replication: "rabbitmq classic queue (not replicated)"}
	if k.NoConfirm {
		s.Confirm, s.FullConfirm = "rabbitmq without confirms (--confirm=false)", false
	}
	qt := cmp.Or(k.QueueType, "classic")
	if qt != "classic" {
		s.Replication = "rabbitmq " + qt + " queue (Raft over the cluster's nodes)"
	} else if !k.Persistent {
		s.Disk = "rabbitmq transient messages (--persistent writes them to disk)"
	}
	return s
}

// CreateBenchDestination declares durable queue d.Name of d.QueueType
// (classic when empty). It fails when the queue exists (a passive declare
// finds it first).
func (c *Conn) CreateBenchDestination(ctx context.Context, d broker.BenchDestination) error {
	qt := d.QueueType
	if qt == "" {
		qt = "classic"
	}
	ch, err := c.conn.Channel()
	if err != nil {
		return err
	}
	if _, err := ch.QueueDeclarePassive(d.Name, true, false, false, false, nil); err == nil {
		ch.Close()
		return fmt.Errorf("queue %s exists already", d.Name)
	}
	// A failed passive declare closed that channel.
	ch, err = c.conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	if _, err := ch.QueueDeclare(d.Name, true, false, false, false, amqp.Table{"x-queue-type": qt}); err != nil {
		return fmt.Errorf("declare queue %s: %w", d.Name, err)
	}
	return nil
}

// DeleteBenchDestination deletes queue d.Name.
func (c *Conn) DeleteBenchDestination(ctx context.Context, d broker.BenchDestination) error {
	ch, err := c.conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	if _, err := ch.QueueDelete(d.Name, false, false, false); err != nil {
		return fmt.Errorf("delete queue %s: %w", d.Name, err)
	}
	return nil
}
