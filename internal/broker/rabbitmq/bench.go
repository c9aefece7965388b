package rabbitmq

import (
	"context"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/broker"
)

var _ broker.BenchDestinations = (*Conn)(nil)

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
