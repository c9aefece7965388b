package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

var _ broker.OffsetResetter = (*Conn)(nil)

// ReadOffsets reads a group's members and committed offsets, and the log
// start and end offsets (and, with q.At, the offsets for that time) of the
// partitions selected: a fixed number of requests (describe, offset fetch,
// metadata, two or three ListOffsets), each sharded per broker by kgo.
func (c *Conn) ReadOffsets(ctx context.Context, q broker.OffsetQuery) (broker.OffsetState, error) {
	within := remaining(ctx)
	st := broker.OffsetState{Action: "commit the new offsets for group " + q.Group, Partitioned: true}
	members, exists, err := c.groupMembers(ctx, q.Group)
	if err != nil {
		return st, err
	}
	st.Members = members
	fetched, err := c.admin.FetchOffsets(ctx, q.Group)
	if err == nil {
		err = fetched.Error()
	}
	if errors.Is(err, kerr.GroupIDNotFound) {
		fetched, err = nil, nil
	}
	if err != nil {
		return st, c.offsetErr(err, within, q.Group)
	}
	committed := fetched.Offsets()
	st.Exists = exists || len(committed) > 0
	sel := q.Topics
	if sel == nil {
		sel = map[string][]int32{}
		for topic := range committed {
			sel[topic] = nil
		}
	}
	if len(sel) == 0 {
		return st, nil
	}
	topics := slices.Sorted(maps.Keys(sel))
	details, err := c.admin.ListTopics(ctx, topics...)
	if err != nil {
		return st, c.classify(err, within)
	}
	parts, err := selectPartitions(details, topics, sel)
	if err != nil {
		return st, err
	}
	starts, ends, at, err := c.bounds(ctx, topics, q)
	if err != nil {
		return st, c.classify(err, within)
	}
	for _, tp := range parts {
		pos := broker.OffsetPosition{Topic: tp.topic, Partition: tp.partition, Committed: -1, AtTime: -1}
		if o, ok := committed.Lookup(tp.topic, tp.partition); ok {
			pos.Committed = o.At
		}
		s, okS := starts.Lookup(tp.topic, tp.partition)
		e, okE := ends.Lookup(tp.topic, tp.partition)
		if !okS || !okE || s.Err != nil || e.Err != nil {
			return st, c.classify(cmpErr(s.Err, e.Err, fmt.Errorf("no offsets listed for %s partition %d", tp.topic, tp.partition)), within)
		}
		pos.Start, pos.End = s.Offset, e.Offset
		if at != nil {
			pos.AtTime = pos.End
			if a, ok := at.Lookup(tp.topic, tp.partition); ok && a.Err == nil && a.Offset >= 0 {
				pos.AtTime = a.Offset
			}
		}
		st.Positions = append(st.Positions, pos)
	}
	return st, nil
}

// ResetOffsets commits to for group after checking, once more, that the
// group has no live members. Kafka refuses a commit without a generation
// for a group with members, too; this check names them first.
func (c *Conn) ResetOffsets(ctx context.Context, group string, to []broker.OffsetCommit) error {
	within := remaining(ctx)
	members, _, err := c.groupMembers(ctx, group)
	if err != nil {
		return err
	}
	if members > 0 {
		return broker.LiveMembers(group, members)
	}
	var os kadm.Offsets
	for _, o := range to {
		os.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: o.Offset, LeaderEpoch: -1})
	}
	resps, err := c.admin.CommitOffsets(ctx, group, os)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		return c.offsetErr(err, within, group)
	}
	return nil
}

// groupMembers counts a group's live members; exists is false for a group
// the coordinator does not know (state Dead, or GroupIDNotFound).
func (c *Conn) groupMembers(ctx context.Context, group string) (members int, exists bool, err error) {
	within := remaining(ctx)
	described, err := c.admin.DescribeGroups(ctx, group)
	if err != nil {
		return 0, false, c.classify(err, within)
	}
	g, ok := described[group]
	switch {
	case !ok, errors.Is(g.Err, kerr.GroupIDNotFound):
		return 0, false, nil
	case g.Err != nil:
		return 0, false, c.offsetErr(g.Err, within, group)
	}
	return len(g.Members), g.State != "Dead", nil
}

// selectPartitions lists the partitions sel names, refusing a topic or a
// partition that does not exist (mqerr.NotFound, naming it).
func selectPartitions(details kadm.TopicDetails, topics []string, sel map[string][]int32) ([]topicPartition, error) {
	var out []topicPartition
	for _, topic := range topics {
		td, ok := details[topic]
		if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
			return nil, mqerr.New(mqerr.NotFound, "topic %s does not exist", topic)
		}
		if td.Err != nil {
			return nil, fmt.Errorf("topic %s: %w", topic, td.Err)
		}
		have := td.Partitions.Numbers()
		slices.Sort(have)
		want := sel[topic]
		if want == nil {
			want = have
		}
		for _, p := range want {
			if !slices.Contains(have, p) {
				return nil, mqerr.New(mqerr.NotFound, "topic %s has no partition %d (it has %s)", topic, p, partitionRange(have))
			}
			out = append(out, topicPartition{topic: topic, partition: p})
		}
	}
	return out, nil
}

// partitionRange writes partitions 0..n-1 as "0-2", anything else as a list.
func partitionRange(ps []int32) string {
	if len(ps) == 0 {
		return "none"
	}
	if int(ps[len(ps)-1]) == len(ps)-1 {
		if len(ps) == 1 {
			return "only 0"
		}
		return fmt.Sprintf("%d-%d", ps[0], ps[len(ps)-1])
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ",")
}

// bounds lists the start and end offsets of topics and, when q.At is set,
// the first offset at or after it, at once.
func (c *Conn) bounds(ctx context.Context, topics []string, q broker.OffsetQuery) (starts, ends, at kadm.ListedOffsets, err error) {
	type listed struct {
		l   kadm.ListedOffsets
		err error
	}
	startC, atC := make(chan listed, 1), make(chan listed, 1)
	go func() {
		l, err := c.admin.ListStartOffsets(ctx, topics...)
		startC <- listed{l, err}
	}()
	if !q.At.IsZero() {
		go func() {
			l, err := c.admin.ListOffsetsAfterMilli(ctx, q.At.UnixMilli(), topics...)
			atC <- listed{l, err}
		}()
	} else {
		atC <- listed{}
	}
	ends, errE := c.admin.ListEndOffsets(ctx, topics...)
	s, a := <-startC, <-atC
	return s.l, ends, a.l, errors.Join(s.err, errE, a.err)
}

// offsetErr classifies a group request's error: a denied group is an
// mqerr.Auth error naming it; transport errors go through classify.
func (c *Conn) offsetErr(err error, within time.Duration, group string) error {
	if errors.Is(err, kerr.GroupAuthorizationFailed) || errors.Is(err, kerr.TopicAuthorizationFailed) {
		return mqerr.New(mqerr.Auth, "kafka at %s denied access to group %s: %v", hostList(c.seeds), group, err)
	}
	if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) || errors.Is(err, kerr.RebalanceInProgress) {
		return mqerr.Usagef("group %s gained members while the offsets were committed (%v): stop its consumers and try again", group, err)
	}
	return c.classify(err, within)
}

func cmpErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
