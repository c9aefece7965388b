package kafka

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

var (
	_ broker.DeadLetters = (*Conn)(nil)
	_ broker.Purger      = (*Conn)(nil)
)

// DeadLetterDestinations returns the topics whose names match q's
// patterns: Kafka has no dead-letter
// mechanism of its own, only the naming conventions of Spring, Connect
// and the rest. Messages is what the partitions retain.
func (c *Conn) DeadLetterDestinations(ctx context.Context, q broker.DeadLetterQuery) ([]broker.DeadLetterDestination, error) {
	if err := q.Check(); err != nil {
		return nil, err
	}
	within := remaining(ctx)
	md, err := c.metadata(ctx)
	if err != nil {
		return nil, c.classify(err, within)
	}
	why := map[string]string{}
	var names []string
	for _, name := range md.Topics.Names() {
		if w, _ := q.NameWhy(name); w != "" {
			why[name] = w
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	msgs, _, err := c.retainedPerTopic(ctx, names, within)
	if err != nil {
		return nil, err
	}
	out := make([]broker.DeadLetterDestination, 0, len(names))
	for _, name := range names {
		if n, ok := msgs[name]; ok {
			out = append(out, broker.DeadLetterDestination{Broker: "kafka", Type: "topic", Name: name, Messages: n, Why: why[name]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Purge deletes the records of topic r.Dest with DeleteRecords: up to the
// end offsets read first, or up to r.Before per partition. Records
// produced meanwhile stay. It returns how many records were deleted.
func (c *Conn) Purge(ctx context.Context, r broker.PurgeRequest) (int64, error) {
	within := remaining(ctx)
	if err := c.topicExists(ctx, within, r.Dest); err != nil {
		return 0, err
	}
	starts, err := c.admin.ListStartOffsets(ctx, r.Dest)
	if err != nil {
		return 0, c.classify(err, within)
	}
	upTo := kadm.Offsets{}
	if r.Before != nil {
		for p, o := range r.Before {
			upTo.AddOffset(r.Dest, p, o, -1)
		}
	} else {
		ends, err := c.admin.ListEndOffsets(ctx, r.Dest)
		if err != nil {
			return 0, c.classify(err, within)
		}
		ends.Each(func(l kadm.ListedOffset) { upTo.AddOffset(l.Topic, l.Partition, l.Offset, -1) })
	}
	var removed int64
	upTo.Each(func(o kadm.Offset) {
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok && o.At > s.Offset {
			removed += o.At - s.Offset
		}
	})
	if removed == 0 {
		return 0, nil
	}
	resp, err := c.admin.DeleteRecords(ctx, upTo)
	if err != nil {
		return 0, c.classify(err, within)
	}
	var errs []error
	for _, d := range resp.Sorted() {
		if d.Err != nil {
			if errors.Is(d.Err, kerr.TopicAuthorizationFailed) {
				return 0, mqerr.New(mqerr.Auth, "kafka at %s denied deleting records of topic %q: %v", hostList(c.seeds), r.Dest, d.Err)
			}
			errs = append(errs, fmt.Errorf("partition %d: %w", d.Partition, d.Err))
		}
	}
	if len(errs) > 0 {
		return 0, c.errorf("deleting records of topic %s: %v", r.Dest, errors.Join(errs...))
	}
	return removed, nil
}
