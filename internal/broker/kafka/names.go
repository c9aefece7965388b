package kafka

import (
	"context"
	"slices"

	"github.com/mqctl/mqctl/internal/broker"
)

var _ broker.NameLister = (*Conn)(nil)

// ListNames lists topic names (one metadata request, internal topics
// left out) or group names (one ListGroups per broker; what lag selects
// and what offsets reset takes), sorted.
func (c *Conn) ListNames(ctx context.Context, kind broker.NameKind) ([]string, error) {
	within := remaining(ctx)
	if kind == broker.NamesDestinations {
		md, err := c.admin.Metadata(ctx)
		if err != nil {
			return nil, c.classify(err, within)
		}
		names := slices.DeleteFunc(md.Topics.Names(), func(n string) bool { return md.Topics[n].IsInternal })
		slices.Sort(names)
		return names, nil
	}
	groups, err := c.admin.ListGroups(ctx)
	if err != nil {
		return nil, c.classify(err, within)
	}
	names := groups.Groups()
	slices.Sort(names)
	return names, nil
}
