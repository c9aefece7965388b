package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
)

// TestPauseFetchRetryRecordPausesFetchedPartition: a record read back
// from a retry topic reads as its origin topic and partition, but it was
// fetched from the retry topic's partition: FetchedFrom names that one,
// the one its lane is kept apart by, and PauseFetch pauses that one, not
// the origin, which another record's lane may be reading.
func TestPauseFetchRetryRecordPausesFetchedPartition(t *testing.T) {
	c, w := jobsTopic(t, 2)
	ctx := context.Background()
	sendJobs(t, w, 0, "a")
	delays := []time.Duration{time.Second}
	rt := jobsRetrier(t, c, delays)
	cons := newConsumer(t, c, broker.ConsumerOptions{Sources: []string{"jobs"}, Group: "g", RetryDelays: delays})
	d := take(t, cons, 1)[0]
	fp := cons.(broker.FetchPauser)
	if topic, p := fp.FetchedFrom(d); topic != "jobs" || p != 0 {
		t.Fatalf("FetchedFrom of jobs[0]@0 = %s[%d]", topic, p)
	}
	if err := rt.Retry(ctx, d, 0, 2); err != nil {
		t.Fatal(err)
	}
	a := take(t, cons, 1)[0]
	if a.Destination != "jobs" || a.Kafka.Partition != 0 {
		t.Fatalf("back from %s[%d]", a.Destination, a.Kafka.Partition)
	}
	topic, p := fp.FetchedFrom(a)
	if topic != "jobs.retry.1s" {
		t.Fatalf("FetchedFrom of the retry of jobs[0] = %s[%d], not the retry topic", topic, p)
	}
	resume := fp.PauseFetch(a)
	paused := cons.(*reader).cl.PauseFetchPartitions(nil)
	if ps := paused[topic]; len(paused) != 1 || len(ps) != 1 || ps[0] != p {
		t.Errorf("PauseFetch of a record fetched from %s[%d] paused %v", topic, p, paused)
	}
	resume()
	if paused := cons.(*reader).cl.PauseFetchPartitions(nil); len(paused) != 0 {
		t.Errorf("after resume %v are still paused", paused)
	}
}
