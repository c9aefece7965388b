package kafka

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mqctl/mqctl/internal/broker"
)

// What List, Lag and DeadLetterDestinations read of the cluster, each
// through broker.Shared: within a refresh's shared reads
// (broker.ShareReads) the metadata and the group listing are requested
// once, and offsets and commits once per topic and group, so that a
// refresh of top costs one Metadata, one ListGroups, one DescribeGroups,
// one OffsetFetch and one ListOffsets for each of start and end (each
// sharded per broker by kgo). Outside one, each call requests what it
// names, as before. What is shared is read, never changed.

// sharedRead keys one connection's read in a refresh's shared reads.
type sharedRead struct {
	c    *Conn
	what string
}

// metadata is the metadata of every topic.
func (c *Conn) metadata(ctx context.Context) (kadm.Metadata, error) {
	return broker.Shared(ctx, sharedRead{c, "metadata"}, func() (kadm.Metadata, error) {
		return c.admin.Metadata(ctx)
	})
}

// listedGroup is a group as ListGroups names it, with its type ("" from
// brokers before Kafka 3.8, whose groups are all classic).
type listedGroup struct{ name, typ string }

// allGroups lists every group of the cluster with its type. kadm's
// ListGroups drops the type, so this sends the request itself. A group
// whose coordinator moves can be listed by two brokers.
func (c *Conn) allGroups(ctx context.Context) ([]listedGroup, error) {
	return broker.Shared(ctx, sharedRead{c, "groups"}, func() ([]listedGroup, error) {
		req := kmsg.NewPtrListGroupsRequest()
		var out []listedGroup
		for _, shard := range c.client.RequestSharded(ctx, req) {
			if shard.Err != nil {
				return nil, shard.Err
			}
			resp := shard.Resp.(*kmsg.ListGroupsResponse)
			if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
				return nil, err
			}
			for _, g := range resp.Groups {
				out = append(out, listedGroup{g.Group, g.GroupType})
			}
		}
		return out, nil
	})
}

// known holds what a refresh has read so far by topic or group, for the
// next role that names the same ones.
type known[V any] struct {
	mu sync.Mutex
	by map[string]V
}

// readKnown answers names from what the refresh's earlier reads got,
// and reads the rest with read (which answers by name) and keeps them;
// keep says which answers may be kept. Outside shared reads it reads
// every name.
func readKnown[V any](ctx context.Context, key sharedRead, names []string, read func([]string) (map[string]V, error), keep func(V) bool) (map[string]V, error) {
	if !broker.Sharing(ctx) {
		return read(names)
	}
	// Shared fails only when ctx ended while another role made k.
	k, err := broker.Shared(ctx, key, func() (*known[V], error) { return &known[V]{by: map[string]V{}}, nil })
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	var missing []string
	for _, n := range names {
		if _, ok := k.by[n]; !ok {
			missing = append(missing, n)
		}
	}
	out := make(map[string]V, len(names))
	if len(missing) > 0 {
		got, err := read(missing)
		if err != nil {
			return nil, err
		}
		for n, v := range got {
			out[n] = v
			if keep(v) {
				k.by[n] = v
			}
		}
	}
	for _, n := range names {
		if v, ok := k.by[n]; ok {
			out[n] = v
		}
	}
	return out, nil
}

// topicStarts lists the start offsets of the named topics.
func (c *Conn) topicStarts(ctx context.Context, names []string) (kadm.ListedOffsets, error) {
	return readKnown(ctx, sharedRead{c, "start offsets"}, names, func(names []string) (map[string]map[int32]kadm.ListedOffset, error) {
		return c.admin.ListStartOffsets(ctx, names...)
	}, func(map[int32]kadm.ListedOffset) bool { return true })
}

// topicEnds lists the end offsets of the named topics.
func (c *Conn) topicEnds(ctx context.Context, names []string) (kadm.ListedOffsets, error) {
	return readKnown(ctx, sharedRead{c, "end offsets"}, names, func(names []string) (map[string]map[int32]kadm.ListedOffset, error) {
		return c.admin.ListEndOffsets(ctx, names...)
	}, func(map[int32]kadm.ListedOffset) bool { return true })
}

// fetchOffsets fetches the committed offsets of the named groups. A
// group's failed fetch is not kept: the next role asks again.
func (c *Conn) fetchOffsets(ctx context.Context, groups []string) kadm.FetchOffsetsResponses {
	got, _ := readKnown(ctx, sharedRead{c, "commits"}, groups, func(groups []string) (map[string]kadm.FetchOffsetsResponse, error) {
		return c.admin.FetchManyOffsets(ctx, groups...), nil
	}, func(r kadm.FetchOffsetsResponse) bool { return r.Err == nil })
	return got
}
