package nats

import (
	"context"
	"slices"

	"github.com/mqctl/mqctl/internal/broker"
)

var _ broker.NameLister = (*Conn)(nil)

// ListNames lists the JetStream stream names (destinations and what lag
// selects); NATS has no consumer groups to complete.
func (c *Conn) ListNames(ctx context.Context, kind broker.NameKind) ([]string, error) {
	if kind == broker.NamesGroups {
		return nil, nil
	}
	var names []string
	l := c.js.StreamNames(ctx)
	for n := range l.Name() {
		names = append(names, n)
	}
	if err := l.Err(); err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
}
