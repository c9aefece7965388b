package kafka

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mqctl/mqctl/internal/lag"
)

// timeLagWait bounds the whole read of the records time lags come from,
// should a broker be slow to answer; fetches themselves do not wait (see
// recordTimes).
const timeLagWait = 5 * time.Second

// Sizes of a time-lag fetch: kgo's consumer defaults. A partition whose
// first batch is bigger than its share is asked again, first in the next
// request, where the broker returns one batch whatever its size.
const (
	timeLagFetchBytes     = 50 << 20
	timeLagPartitionBytes = 1 << 20
	// timeLagRetries is how often a partition that returned nothing
	// below its high watermark is asked again before it is unknown.
	timeLagRetries = 3
)

// fillTimeLag sets TimeLag on every lagging row to now minus the timestamp
// of the record at from[i], the next one the group would read. Rows whose
// record could not be read keep TimeLag 0 (unknown), as do rows whose
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
			rows[i].TimeLag, rows[i].TimeLagOf = now.Sub(ts), lag.TimeLagNextRecord
		}
	}
	return nil
}

// timeLagRead is one partition's progress in recordTimes.
type timeLagRead struct {
	offsets []int64 // wanted offsets not yet answered, ascending
	at      int64   // the offset the next fetch reads from
	empty   int     // fetches in a row that returned nothing below the high watermark
}

// recordTimes reads, for each partition and each wanted offset (ascending),
// the timestamp of the first record at or after that offset, on the
// connection's own client: no client of its own, so no connections beyond
// the one kgo keeps per broker for fetches.
//
// It goes in rounds, each one Fetch request per partition leader holding
// every partition still wanted, at the lowest offset it still wants, with
// no wait: the broker answers with what it has at once. Records are read
// in order, so one answer covers every offset up to the last record it
// holds; the next round reads from the next offset still wanted, skipping
// the records in between. A partition is unknown, and no longer asked,
// when its read fails (not authorized, leader moved, deleted) or when a
// fetch yields no record: at or past the high watermark there is none to
// read (the wanted offset held only a transaction marker, or records were
// removed since the offsets were listed), below it the first batch did
// not fit (asked again, first, a few times). Every round advances or drops
// each partition, so it ends; timeLagWait bounds it should a broker be
// slow. Only an interruption is an error.
func (c *Conn) recordTimes(ctx context.Context, want map[topicPartition][]int64) (map[topicPartition]map[int64]time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeLagWait)
	defer cancel()
	times := map[topicPartition]map[int64]time.Time{}
	md, err := c.metadata(ctx)
	if err != nil {
		return c.timesOrInterrupted(ctx, times)
	}
	reads := map[topicPartition]*timeLagRead{}
	for tp, offsets := range want {
		reads[tp] = &timeLagRead{offsets: offsets, at: offsets[0]}
	}
	// stalled partitions go first in the next request.
	var stalled []topicPartition
	for len(reads) > 0 && ctx.Err() == nil {
		reqs := map[int32]*kmsg.FetchRequest{}
		asked := map[topicPartition]bool{}
		add := func(tp topicPartition) {
			leader := int32(-1)
			td := md.Topics[tp.topic]
			if pd, ok := td.Partitions[tp.partition]; ok && pd.Err == nil {
				leader = pd.Leader
			}
			if leader < 0 {
				delete(reads, tp)
				return
			}
			req := reqs[leader]
			if req == nil {
				req = kmsg.NewPtrFetchRequest()
				req.ReplicaID = -1
				req.MaxWaitMillis = 0
				req.MinBytes = 1
				req.MaxBytes = timeLagFetchBytes
				req.SessionEpoch = -1 // no fetch session
				reqs[leader] = req
			}
			i := slices.IndexFunc(req.Topics, func(t kmsg.FetchRequestTopic) bool { return t.Topic == tp.topic })
			if i < 0 {
				t := kmsg.NewFetchRequestTopic()
				t.Topic, t.TopicID = tp.topic, td.ID
				req.Topics = append(req.Topics, t)
				i = len(req.Topics) - 1
			}
			p := kmsg.NewFetchRequestTopicPartition()
			p.Partition = tp.partition
			p.FetchOffset = reads[tp].at
			p.PartitionMaxBytes = timeLagPartitionBytes
			req.Topics[i].Partitions = append(req.Topics[i].Partitions, p)
			asked[tp] = true
		}
		for _, tp := range stalled {
			if reads[tp] != nil {
				add(tp)
			}
		}
		for tp := range reads {
			if !asked[tp] {
				add(tp)
			}
		}
		stalled = stalled[:0]
		var mu sync.Mutex
		var wg sync.WaitGroup
		for leader, req := range reqs {
			wg.Go(func() {
				resp, err := c.client.Broker(int(leader)).Request(ctx, req)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					// The leader did not answer: its
					// partitions stay unknown.
					for _, t := range req.Topics {
						for _, p := range t.Partitions {
							delete(reads, topicPartition{t.Topic, p.Partition})
						}
					}
					return
				}
				stalled = append(stalled, takeTimes(req, resp.(*kmsg.FetchResponse), reads, times)...)
			})
		}
		wg.Wait()
	}
	return c.timesOrInterrupted(ctx, times)
}

// timesOrInterrupted returns what was read, or the error of an interrupted
// ctx: a deadline leaves the rest unknown.
func (c *Conn) timesOrInterrupted(ctx context.Context, times map[topicPartition]map[int64]time.Time) (map[topicPartition]map[int64]time.Time, error) {
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil, ctx.Err()
	}
	return times, nil
}

// takeTimes answers wanted offsets from one fetch response, advances or
// drops each partition it asked for, and returns those to ask again first.
// A partition the answer leaves out counts as a fetch that returned
// nothing.
func takeTimes(req *kmsg.FetchRequest, resp *kmsg.FetchResponse, reads map[topicPartition]*timeLagRead, times map[topicPartition]map[int64]time.Time) (stalled []topicPartition) {
	names := map[[16]byte]string{}
	for _, t := range req.Topics {
		names[t.TopicID] = t.Topic
	}
	answered := map[topicPartition]*kmsg.FetchResponseTopicPartition{}
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		topic := rt.Topic
		if topic == "" {
			topic = names[rt.TopicID]
		}
		for j := range rt.Partitions {
			answered[topicPartition{topic, rt.Partitions[j].Partition}] = &rt.Partitions[j]
		}
	}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			tp := topicPartition{t.Topic, p.Partition}
			r := reads[tp]
			if r == nil {
				continue
			}
			rp := answered[tp]
			if rp == nil {
				if r.empty++; r.empty > timeLagRetries {
					delete(reads, tp)
				} else {
					stalled = append(stalled, tp)
				}
				continue
			}
			if r.advance(tp, rp, times) {
				stalled = append(stalled, tp)
			}
			if len(r.offsets) == 0 || r.at < 0 {
				delete(reads, tp)
			}
		}
	}
	return stalled
}

// advance takes one partition's fetch answer: it records the times of the
// offsets the records answer and moves at to the next offset to read, or
// to -1 when the partition is unknown from here on. It reports whether the
// fetch returned nothing though records are below the high watermark.
func (r *timeLagRead) advance(tp topicPartition, rp *kmsg.FetchResponseTopicPartition, times map[topicPartition]map[int64]time.Time) (stalled bool) {
	if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
		// Retention moved the start past the offset since it was
		// listed: the next record is the first retained one.
		if errors.Is(err, kerr.OffsetOutOfRange) && rp.LogStartOffset > r.at {
			r.at = rp.LogStartOffset
			return false
		}
		r.at = -1
		return false
	}
	fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{
		Offset: r.at, Topic: tp.topic, Partition: tp.partition,
	}, rp, kgo.DefaultDecompressor(), nil)
	for _, rec := range fp.Records {
		for len(r.offsets) > 0 && r.offsets[0] <= rec.Offset {
			if times[tp] == nil {
				times[tp] = map[int64]time.Time{}
			}
			times[tp][r.offsets[0]] = rec.Timestamp
			r.offsets = r.offsets[1:]
		}
	}
	switch {
	case len(r.offsets) == 0:
	case next > r.at:
		// Records or markers were read: go on from the next offset
		// wanted, or past the markers.
		// At the high watermark there is nothing more to read.
		r.at, r.empty = max(next, r.offsets[0]), 0
		if r.at >= rp.HighWatermark {
			r.at = -1
		}
	case r.at < rp.HighWatermark:
		if r.empty++; r.empty > timeLagRetries {
			r.at = -1
		}
		return r.at >= 0
	default:
		r.at = -1
	}
	return false
}
