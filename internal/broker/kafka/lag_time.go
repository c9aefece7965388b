package kafka

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/lag"
)

// timeLagWait bounds the fetch of the records time lags are read from, so a
// partition that never yields one (its last records are transaction markers,
// or the user may not read the topic) cannot hold up the report.
const timeLagWait = 5 * time.Second

// fillTimeLag sets TimeLag on every lagging row to now minus the timestamp
// of the record at from[i], the next one the group would read. Rows whose
// record was not read in time keep TimeLag 0 (unknown), as do rows whose
// record has a timestamp in the future (clock skew gives no estimate).
func (c *Conn) fillTimeLag(ctx context.Context, rows []lag.Row, from []int64) error {
	want := map[topicPartition][]int64{}
	for i, r := range rows {
		if r.Lag > 0 {
			tp := topicPartition{r.Topic, r.Partition}
			want[tp] = append(want[tp], from[i])
		}
	}
	if len(want) == 0 {
		return nil
	}
	for tp, offsets := range want {
		slices.Sort(offsets)
		want[tp] = slices.Compact(offsets)
	}
	times, err := c.recordTimes(ctx, want)
	if err != nil {
		return err
	}
	now := time.Now()
	for i := range rows {
		ts, ok := times[topicPartition{rows[i].Topic, rows[i].Partition}][from[i]]
		if ok && now.After(ts) {
			rows[i].TimeLag = now.Sub(ts)
		}
	}
	return nil
}

// recordTimes reads, for each partition and each wanted offset (ascending),
// the timestamp of the first record at or after that offset. One consumer
// client assigned the partitions directly fetches them all at once. Records
// are read in order, so one pass over a partition answers all of its
// offsets; where the next wanted offset is past what was read, it seeks
// there rather than reading the records in between. It stops when every
// offset is answered, after timeLagWait, or when ctx ends; only an
// interruption is an error, a deadline leaves the rest unknown.
func (c *Conn) recordTimes(ctx context.Context, want map[topicPartition][]int64) (map[topicPartition]map[int64]time.Time, error) {
	assign := map[string]map[int32]kgo.Offset{}
	// at is where we last told the client to read; records below it
	// are from a fetch issued before a seek.
	at := map[topicPartition]int64{}
	for tp, offsets := range want {
		if assign[tp.topic] == nil {
			assign[tp.topic] = map[int32]kgo.Offset{}
		}
		assign[tp.topic][tp.partition] = kgo.NewOffset().At(offsets[0])
		at[tp] = offsets[0]
	}
	// Clip: Opts is the client's own slice, which append must not share.
	cl, err := kgo.NewClient(append(slices.Clip(c.client.Opts()),
		kgo.ConsumePartitions(assign),
		// A lagging partition has records, so its fetch returns at
		// once; the wait only matters for one that has none to give.
		kgo.FetchMaxWait(250*time.Millisecond),
	)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()

	pollCtx, cancel := context.WithTimeout(ctx, timeLagWait)
	defer cancel()
	times := map[topicPartition]map[int64]time.Time{}
	for len(want) > 0 {
		fetches := cl.PollFetches(pollCtx)
		if pollCtx.Err() != nil {
			break
		}
		done := map[string][]int32{}
		seek := map[string]map[int32]kgo.EpochOffset{}
		// A partition that fails (not authorized to read, deleted)
		// will not answer; stop waiting for it.
		fetches.EachError(func(topic string, p int32, _ error) {
			if _, ok := want[topicPartition{topic, p}]; ok {
				delete(want, topicPartition{topic, p})
				done[topic] = append(done[topic], p)
			}
		})
		fetches.EachPartition(func(f kgo.FetchTopicPartition) {
			tp := topicPartition{f.Topic, f.Partition}
			offsets, ok := want[tp]
			if !ok {
				return
			}
			last := int64(-1)
			for _, r := range f.Records {
				if r.Offset < at[tp] {
					continue
				}
				for len(offsets) > 0 && offsets[0] <= r.Offset {
					if times[tp] == nil {
						times[tp] = map[int64]time.Time{}
					}
					times[tp][offsets[0]] = r.Timestamp
					offsets = offsets[1:]
				}
				last = r.Offset
			}
			want[tp] = offsets
			switch {
			case len(offsets) == 0:
				delete(want, tp)
				done[f.Topic] = append(done[f.Topic], f.Partition)
			case last >= 0 && offsets[0] > last+1:
				at[tp] = offsets[0]
				if seek[f.Topic] == nil {
					seek[f.Topic] = map[int32]kgo.EpochOffset{}
				}
				seek[f.Topic][f.Partition] = kgo.EpochOffset{Epoch: -1, Offset: offsets[0]}
			}
		})
		cl.RemoveConsumePartitions(done)
		cl.SetOffsets(seek)
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil, ctx.Err()
	}
	return times, nil
}
