package kafka

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/lag"
)

var _ broker.LagReader = (*Conn)(nil)

// Lag reports one row per group, topic and partition for every consumer
// group q.Match selects: classic groups and KIP-848 ("consumer" type)
// groups. Share and streams groups keep no consumer offsets of this kind and
// are left out.
//
// kadm.CalculateGroupLagWithStartOffsets decides the rows and members: every
// partition of every topic the group is assigned, subscribed to (classic
// groups) or has committed on, because a consumer of a topic reads all its
// partitions. The lag is what a consumer of the group still has to read:
//   - end - committed when the commit is within the log;
//   - end - start when the partition has no commit (Committed is
//     lag.Unknown): what a consumer starting from the earliest offset
//     reads. One starting from the latest would read nothing, but counting
//     what is retained is the safe side for an alarm. kadm does the same.
//   - end - start when the commit is below the log start offset (records
//     were deleted or expired past it): the consumer resets to the start,
//     as it has nothing else to read. Here kadm differs: it counts
//     end - committed, records that no longer exist, so Lag corrects it.
//
// The cost is a fixed number of requests whatever the number of groups and
// partitions, each sharded per broker by kgo: one ListGroups, one
// DescribeGroups (plus one ConsumerGroupDescribe when KIP-848 groups
// exist) while one OffsetFetch for all groups is answered, and one
// metadata and one ListOffsets for each of start and end, at once. With
// q.TimeLag, the connection's own client then fetches the next unconsumed
// record of every lagging partition: one Fetch per partition leader, again
// only for groups far apart on one partition (see recordTimes).
func (c *Conn) Lag(ctx context.Context, q broker.LagQuery) ([]lag.Row, error) {
	within := remaining(ctx)
	classic, nextGen, err := c.listGroups(ctx, q.Match)
	if err != nil {
		return nil, c.classify(err, within)
	}
	if len(classic)+len(nextGen) == 0 {
		return nil, nil
	}
	// The commits need only the names, so they are fetched while the
	// groups are described. Compact: each broker lists its own groups,
	// and a group whose coordinator moves can be listed by two.
	names := slices.Compact(slices.Sorted(slices.Values(slices.Concat(classic, nextGen))))
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fetched := make(chan kadm.FetchOffsetsResponses, 1)
	go func() { fetched <- c.fetchOffsets(fctx, names) }()
	groups, err := c.describeGroups(ctx, classic, nextGen)
	if err != nil {
		return nil, c.classify(err, within)
	}
	described, err := c.commits(<-fetched, groups, names)
	if err != nil {
		return nil, c.classify(err, within)
	}
	offsets, err := c.listOffsets(ctx, described)
	if err != nil {
		return nil, c.classify(err, within)
	}
	rows, from, err := offsets.rows(described)
	if err != nil {
		return nil, c.classify(err, within)
	}
	if q.TimeLag {
		if err := c.fillTimeLag(ctx, rows, from); err != nil {
			return nil, c.classify(err, within)
		}
	}
	return rows, nil
}

// group is one consumer group as Lag assembles it.
type group struct {
	name  string
	state string
	// classic is the DescribeGroups answer, with each member's assignment;
	// nil for a KIP-848 group.
	classic *kadm.DescribedGroup
	// owners maps a KIP-848 group's assigned partitions to their members.
	owners map[string]map[int32]member
	// commits are the group's committed offsets.
	commits kadm.OffsetResponses
}

// listGroups names the groups match selects (all when nil), split by
// protocol; brokers before Kafka 3.8 leave the type empty, and their
// groups are all classic.
func (c *Conn) listGroups(ctx context.Context, match func(string) bool) (classic, nextGen []string, err error) {
	listed, err := c.allGroups(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, g := range listed {
		if match != nil && !match(g.name) {
			continue
		}
		switch g.typ {
		case "", "classic":
			classic = append(classic, g.name)
		case "consumer":
			nextGen = append(nextGen, g.name)
		}
	}
	return classic, nextGen, nil
}

// describeGroups describes the groups of both protocols. A group deleted
// since it was listed is left out; any other group error fails the call.
func (c *Conn) describeGroups(ctx context.Context, classic, nextGen []string) (map[string]*group, error) {
	groups := make(map[string]*group, len(classic)+len(nextGen))
	// Both kadm calls describe every group in the cluster when given
	// none, hence the length checks.
	if len(classic) > 0 {
		described, err := c.admin.DescribeGroups(ctx, classic...)
		if err != nil {
			return nil, err
		}
		for name, d := range described {
			if d.Err != nil || d.State == "Dead" {
				if deleted(d.Err) {
					continue
				}
				return nil, fmt.Errorf("describing group %q: %w", name, d.Err)
			}
			groups[name] = &group{name: name, state: d.State, classic: &d}
		}
	}
	if len(nextGen) > 0 {
		if err := c.describeNextGen(ctx, nextGen, groups); err != nil {
			return nil, err
		}
	}
	return groups, nil
}

// member is the owner of a partition in a KIP-848 group.
type member struct{ id, client string }

// describeNextGen describes KIP-848 groups into groups. It sends the request
// itself because kadm keeps only topic names from the assignments, and a
// broker may name assigned topics by ID alone (kfake does); those are
// resolved with one metadata request.
func (c *Conn) describeNextGen(ctx context.Context, names []string, groups map[string]*group) error {
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = names
	var byID map[[16]byte]string
	for _, shard := range c.client.RequestSharded(ctx, req) {
		if shard.Err != nil {
			return shard.Err
		}
		for _, d := range shard.Resp.(*kmsg.ConsumerGroupDescribeResponse).Groups {
			if err := kerr.ErrorForCode(d.ErrorCode); err != nil || d.State == "Dead" {
				if deleted(err) {
					continue
				}
				return fmt.Errorf("describing group %q: %w", d.Group, err)
			}
			g := &group{name: d.Group, state: d.State, owners: map[string]map[int32]member{}}
			for _, m := range d.Members {
				for _, tp := range m.Assignment.TopicPartitions {
					topic := tp.Topic
					if topic == "" {
						if byID == nil {
							var err error
							if byID, err = c.topicNames(ctx); err != nil {
								return err
							}
						}
						if topic = byID[tp.TopicID]; topic == "" {
							continue // deleted since it was assigned
						}
					}
					if g.owners[topic] == nil {
						g.owners[topic] = map[int32]member{}
					}
					for _, p := range tp.Partitions {
						g.owners[topic][p] = member{m.MemberID, m.ClientID}
					}
				}
			}
			groups[d.Group] = g
		}
	}
	return nil
}

// topicNames maps topic IDs to names, from the metadata of every topic
// (internal ones included) that List and DeadLetterDestinations read too.
func (c *Conn) topicNames(ctx context.Context) (map[[16]byte]string, error) {
	md, err := c.metadata(ctx)
	if err != nil {
		return nil, err
	}
	byID := make(map[[16]byte]string, len(md.Topics))
	for name, td := range md.Topics {
		byID[[16]byte(td.ID)] = name
	}
	return byID, nil
}

// deleted reports a group error that means the group no longer exists
// (nil: the group is in state Dead).
func deleted(err error) bool {
	return err == nil || errors.Is(err, kerr.GroupIDNotFound)
}

// commits hands the fetched offsets of the groups named to their groups,
// and returns those groups in name order; a group deleted since it was
// listed is left out.
func (c *Conn) commits(fetched kadm.FetchOffsetsResponses, groups map[string]*group, names []string) ([]*group, error) {
	var part []*group
	for _, name := range names {
		g := groups[name]
		if g == nil {
			continue // deleted since it was listed
		}
		// A group the answer leaves out keeps no commits: its rows
		// come from its assignment.
		if r, ok := fetched[name]; ok {
			if errors.Is(r.Err, kerr.GroupIDNotFound) {
				continue
			}
			if r.Err != nil {
				return nil, fmt.Errorf("fetching the offsets of group %q: %w", name, r.Err)
			}
			g.commits = r.Fetched
		}
		part = append(part, g)
	}
	return part, nil
}

// topics names every topic g's lag covers: assigned, subscribed to (a
// classic group in a rebalance has topics but no assignment yet) or
// committed on.
func (g *group) topics() kadm.TopicsSet {
	topics := kadm.TopicsSet{}
	if g.classic != nil {
		topics.Merge(g.classic.AssignedPartitions())
		topics.MergeTopics(g.classic.JoinTopics())
	}
	for topic := range g.owners {
		topics.Add(topic)
	}
	for topic := range g.commits {
		topics.Add(topic)
	}
	return topics
}

// listedOffsets are the start and end offsets of the topics of the groups
// whose lag is computed.
type listedOffsets struct {
	starts, ends kadm.ListedOffsets
	// gone holds the topics that no longer exist.
	gone map[string]bool
}

// listOffsets lists the start and end offsets of every topic the groups
// read, both at once.
func (c *Conn) listOffsets(ctx context.Context, groups []*group) (*listedOffsets, error) {
	topics := map[string]bool{}
	for _, g := range groups {
		for topic := range g.topics() {
			topics[topic] = true
		}
	}
	o := &listedOffsets{gone: map[string]bool{}}
	if len(topics) == 0 {
		return o, nil
	}
	names := slices.Sorted(maps.Keys(topics))
	var startErr, endErr error
	var wg sync.WaitGroup
	wg.Go(func() { o.starts, startErr = c.topicStarts(ctx, names) })
	o.ends, endErr = c.topicEnds(ctx, names)
	wg.Wait()
	if err := cmp.Or(startErr, endErr); err != nil {
		return nil, err
	}
	// kadm answers a topic it could not look up with partition -1.
	for _, listed := range []kadm.ListedOffsets{o.starts, o.ends} {
		for topic, parts := range listed {
			p, ok := parts[-1]
			switch {
			case !ok:
			case errors.Is(p.Err, kerr.UnknownTopicOrPartition):
				o.gone[topic] = true
			default:
				return nil, fmt.Errorf("listing the offsets of topic %q: %w", topic, p.Err)
			}
		}
	}
	return o, nil
}

// rows computes the lag of groups and returns their rows in group order,
// with the offset of the next record each group would read.
//
// kadm gives a group a row for every listed partition of every topic it
// reads (a partition it commits on or is assigned that was not listed is
// an error), so each group's rows are counted before they exist, and the
// groups are computed in parallel, each writing its own span of one slice.
// Each group's kadm calculation is dropped once its rows are made: held all
// at once, they took more memory than the rows, and faulting that memory
// in cost more than computing it.
func (o *listedOffsets) rows(groups []*group) ([]lag.Row, []int64, error) {
	at := make([]int, len(groups)+1) // group i's rows are [at[i], at[i+1])
	for i, g := range groups {
		n := 0
		for topic := range g.topics() {
			if !o.gone[topic] {
				n += len(o.ends[topic])
			}
		}
		at[i+1] = at[i] + n
	}
	rows := make([]lag.Row, at[len(groups)])
	from := make([]int64, len(rows))
	var next atomic.Int64
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(groups); i = int(next.Add(1) - 1) {
				span, spanFrom := rows[at[i]:at[i]:at[i+1]], from[at[i]:at[i]:at[i+1]]
				span, _, errs[i] = o.groupRows(groups[i], span, spanFrom)
				if errs[i] == nil && len(span) != at[i+1]-at[i] {
					// Not expected (see above); a gap would be
					// rows of zeros, so it is an error.
					errs[i] = fmt.Errorf("group %q: %d rows, counted %d", groups[i].name, len(span), at[i+1]-at[i])
				}
			}
		})
	}
	wg.Wait()
	if err := cmp.Or(errs...); err != nil {
		return nil, nil, err
	}
	return rows, from, nil
}

// groupRows appends g's rows and the offsets of their next records.
func (o *listedOffsets) groupRows(g *group, rows []lag.Row, from []int64) ([]lag.Row, []int64, error) {
	gl := g.lag(o.starts, o.ends)
	defer g.release()
	for _, topic := range sortedKeys(gl) {
		if o.gone[topic] {
			continue // deleted since the group committed to it
		}
		parts := gl[topic]
		for _, p := range slices.Sorted(maps.Keys(parts)) {
			row, next, err := partitionRow(g, parts[p])
			if err != nil {
				return nil, nil, err
			}
			rows = append(rows, row)
			from = append(from, next)
		}
	}
	return rows, from, nil
}

// release drops what g's lag is computed from, once its rows are made.
func (g *group) release() { g.classic, g.owners, g.commits = nil, nil, nil }

// lag runs kadm's calculation for g. A KIP-848 group is passed as a group
// without members (kadm reads classic assignments only), and its assigned
// partitions without a commit are added as commits at -1, which kadm
// counts from the start like an assigned partition without a commit.
func (g *group) lag(starts, ends kadm.ListedOffsets) kadm.GroupLag {
	if g.classic != nil {
		return kadm.CalculateGroupLagWithStartOffsets(*g.classic, g.commits, starts, ends)
	}
	commits := g.commits
	if commits == nil {
		commits = kadm.OffsetResponses{}
	}
	for topic, parts := range g.owners {
		for p := range parts {
			if _, ok := commits.Lookup(topic, p); ok {
				continue
			}
			if commits[topic] == nil {
				commits[topic] = map[int32]kadm.OffsetResponse{}
			}
			commits[topic][p] = kadm.OffsetResponse{Offset: kadm.Offset{Topic: topic, Partition: p, At: -1}}
		}
	}
	return kadm.CalculateGroupLagWithStartOffsets(kadm.DescribedGroup{Group: g.name, State: g.state}, commits, starts, ends)
}

// partitionRow turns kadm's partition lag into a row, correcting a commit
// below the log start (see Lag), and returns the offset of the next record
// the group would read.
func partitionRow(g *group, pl kadm.GroupMemberLag) (lag.Row, int64, error) {
	if err := errors.Join(pl.Err, pl.Start.Err); err != nil {
		return lag.Row{}, 0, fmt.Errorf("group %q topic %q partition %d: %w", g.name, pl.Topic, pl.Partition, err)
	}
	row := lag.Row{
		Broker:    lag.BrokerKafka,
		Kind:      lag.KindPartition,
		Group:     g.name,
		Topic:     pl.Topic,
		Partition: pl.Partition,
		Committed: lag.Unknown,
		End:       pl.End.Offset,
		Lag:       pl.Lag,
		State:     g.state,
	}
	if pl.Commit.At >= 0 {
		row.Committed = pl.Commit.At
	}
	next := row.Committed
	if next < pl.Start.Offset {
		next = pl.Start.Offset
		row.Lag = max(pl.End.Offset-pl.Start.Offset, 0)
	}
	switch {
	case pl.Member != nil:
		row.Member, row.ClientID = pl.Member.MemberID, pl.Member.ClientID
	case g.owners != nil:
		m := g.owners[pl.Topic][pl.Partition]
		row.Member, row.ClientID = m.id, m.client
	}
	return row, next, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
