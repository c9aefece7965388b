package rabbitmq

import (
	"context"

	"github.com/mqctl/mqctl/internal/broker"
)

var _ broker.NameLister = (*Conn)(nil)

// ListNames lists the queue names of the vhost from the management API
// (the name column only); RabbitMQ has no consumer groups
// or consumers with a position of their own.
func (c *Conn) ListNames(ctx context.Context, kind broker.NameKind) ([]string, error) {
	if kind == broker.NamesGroups || kind == broker.NamesConsumers {
		return nil, nil
	}
	var names []string
	err := c.mgmt.eachQueue(ctx, c.vhost, "name", func(a apiQueue) { names = append(names, a.Name) })
	return names, err
}
