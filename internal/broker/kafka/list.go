package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/mqctl/mqctl/internal/broker"
)

var _ broker.Lister = (*Conn)(nil)

// List returns the topics q selects, sorted by name: every topic, internal
// ones (flagged) only with q.Internal or when named. Messages is what the
// partitions retain (end - start offsets);
// Consumers counts the groups that committed an offset on the topic.
// It costs a fixed number of requests, whatever the number of topics:
// one metadata, one ListOffsets per kind, one ListGroups and one
// OffsetFetch for all groups (each sharded per broker by kgo).
func (c *Conn) List(ctx context.Context, q broker.ListQuery) ([]broker.Destination, error) {
	within := remaining(ctx)
	md, err := c.metadata(ctx)
	if err != nil {
		return nil, c.classify(err, within)
	}
	names := md.Topics.Names()
	names = slices.DeleteFunc(names, func(name string) bool {
		if len(q.Names) > 0 {
			return !slices.Contains(q.Names, name)
		}
		return md.Topics[name].IsInternal && !q.Internal
	})
	if len(names) == 0 {
		return nil, nil
	}
	kept, written, err := c.retainedPerTopic(ctx, names, within)
	if err != nil {
		return nil, err
	}
	consumers, err := c.groupsPerTopic(ctx)
	if err != nil {
		return nil, c.classify(err, within)
	}

	out := make([]broker.Destination, 0, len(names))
	for _, name := range names {
		td := md.Topics[name]
		msgs, ok := kept[name]
		if !ok {
			continue
		}
		out = append(out, broker.Destination{
			Broker:     "kafka",
			Type:       "topic",
			Name:       name,
			Partitions: len(td.Partitions),
			Internal:   td.IsInternal,
			Messages:   msgs,
			Written:    written[name],
			Consumers:  consumers[name],
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// retainedPerTopic returns what each of the named topics retains (end -
// start offsets, summed over partitions) and has ever been written (end
// offsets, summed), leaving out topics deleted since
// their names were read. Naming the topics keeps the internal ones, which
// kadm drops when asked for "all"; the metadata is reused from kgo's cache.
func (c *Conn) retainedPerTopic(ctx context.Context, names []string, within time.Duration) (kept, written map[string]int64, err error) {
	starts, err := c.topicStarts(ctx, names)
	if err != nil {
		return nil, nil, c.classify(err, within)
	}
	ends, err := c.topicEnds(ctx, names)
	if err != nil {
		return nil, nil, c.classify(err, within)
	}
	kept, written = make(map[string]int64, len(names)), make(map[string]int64, len(names))
	for _, name := range names {
		msgs, gone, err := retained(starts[name], ends[name])
		if err != nil {
			return nil, nil, c.errorf("listing offsets of topic %s: %v", name, err)
		}
		if !gone {
			kept[name] = msgs
			for _, end := range ends[name] {
				written[name] += end.Offset
			}
		}
	}
	return kept, written, nil
}

// retained sums end - start over a topic's partitions. gone reports a topic
// deleted since the metadata request, which List leaves out.
func retained(starts, ends map[int32]kadm.ListedOffset) (msgs int64, gone bool, err error) {
	for p, end := range ends {
		if end.Err != nil {
			if errors.Is(end.Err, kerr.UnknownTopicOrPartition) {
				return 0, true, nil
			}
			return 0, false, end.Err
		}
		start, ok := starts[p]
		if !ok {
			return 0, false, fmt.Errorf("no start offset for partition %d", p)
		}
		if start.Err != nil {
			if errors.Is(start.Err, kerr.UnknownTopicOrPartition) {
				return 0, true, nil
			}
			return 0, false, start.Err
		}
		if n := end.Offset - start.Offset; n > 0 {
			msgs += n
		}
	}
	return msgs, false, nil
}

// groupsPerTopic counts, per topic, the groups with a committed offset on
// it. A group deleted between ListGroups and the offset fetch is skipped.
func (c *Conn) groupsPerTopic(ctx context.Context) (map[string]int, error) {
	listed, err := c.allGroups(ctx)
	if err != nil {
		return nil, err
	}
	counts := make(map[string]int)
	groups := make([]string, len(listed))
	for i, g := range listed {
		groups[i] = g.name
	}
	groups = slices.Compact(slices.Sorted(slices.Values(groups)))
	if len(groups) == 0 {
		return counts, nil
	}
	for _, r := range c.fetchOffsets(ctx, groups) {
		if r.Err != nil {
			if errors.Is(r.Err, kerr.GroupIDNotFound) {
				continue
			}
			return nil, r.Err
		}
		for topic, parts := range r.Fetched {
			for _, o := range parts {
				if o.Err == nil && o.At >= 0 {
					counts[topic]++
					break
				}
			}
		}
	}
	return counts, nil
}
