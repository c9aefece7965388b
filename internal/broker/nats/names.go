package nats

import (
	"context"
	"errors"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqctl/mqctl/internal/broker"
)

var _ broker.NameLister = (*Conn)(nil)

// ListNames lists the JetStream stream names (destinations and what lag
// selects) or the durable consumers' names of every stream (what offsets
// reset takes; ephemeral consumers have no position to reset), sorted and
// without repeats. NATS has no consumer groups to complete. Durables cost
// one request for the stream names and two per stream, all within ctx
// (completion's bound).
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
	if kind != broker.NamesConsumers {
		return names, nil
	}
	return c.durableNames(ctx, names)
}

// durableNames lists the durable consumers of streams.
func (c *Conn) durableNames(ctx context.Context, streams []string) ([]string, error) {
	var out []string
	for _, name := range streams {
		s, err := c.js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			continue // deleted since it was listed
		}
		if err != nil {
			return nil, err
		}
		l := s.ListConsumers(ctx)
		for ci := range l.Info() {
			if ci.Config.Durable != "" {
				out = append(out, ci.Config.Durable)
			}
		}
		if err := l.Err(); err != nil {
			return nil, err
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
