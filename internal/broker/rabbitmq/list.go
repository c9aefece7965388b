package rabbitmq

import (
	"context"
	"sort"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// List lists the queues of the connection's vhost, sorted by name. It
// needs the management API: AMQP has no way to enumerate queues.
func (c *Conn) List(ctx context.Context) ([]broker.Destination, error) {
	qs, err := c.mgmt.Queues(ctx, c.vhost)
	if mqerr.Is(err, mqerr.Unreachable) {
		return nil, mqerr.New(mqerr.Unreachable, "listing queues needs the RabbitMQ management API (AMQP cannot enumerate queues): %v; enable the rabbitmq_management plugin or set --management-url (management_url in the context)", err)
	}
	if err != nil {
		return nil, err
	}
	out := make([]broker.Destination, 0, len(qs))
	for _, q := range qs {
		d := broker.Destination{
			Broker:    "rabbitmq",
			Type:      "queue",
			Name:      q.Name,
			VHost:     q.VHost,
			QueueType: q.Type,
			Ready:     q.Ready,
			Unacked:   q.Unacked,
			Consumers: q.Consumers,
		}
		if d.VHost == "" {
			d.VHost = c.vhost
		}
		if q.Messages != nil {
			d.Messages = *q.Messages
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
