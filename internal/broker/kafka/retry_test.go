package kafka

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// jobsTopic starts a kfake cluster with the topic "jobs" of the given
// partitions and returns the driver's connection to it and a writer to
// the partition a record names; all closed when t ends.
func jobsTopic(t *testing.T, partitions int32) (*Conn, *kgo.Client) {
	t.Helper()
	k := testenv.Kafka(t, sandbox.KafkaOptions{})
	c, err := open(t, broker.Target{URL: k.URL})
	if err != nil {
		t.Fatal(err)
	}
	createTopic(t, c, "jobs", partitions, nil)
	return c, writer(t, c)
}

// sendJobs writes values to partition p of "jobs", one after the other.
func sendJobs(t *testing.T, w *kgo.Client, p int32, values ...string) {
	t.Helper()
	for _, v := range values {
		if err := w.ProduceSync(context.Background(), &kgo.Record{Topic: "jobs", Partition: p, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// jobsRetrier makes c's retrier of "jobs" for the group "g", closed when
// t ends.
func jobsRetrier(t *testing.T, c *Conn, delays []time.Duration) broker.Retrier {
	t.Helper()
	rt, err := c.NewRetrier(context.Background(), broker.RetryOptions{Sources: []string{"jobs"}, Delays: delays, Group: "g"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

// A parked record goes to <topic>.retry.<delay> (created with the topic's
// partitions), is held while records of other partitions keep coming,
// then is handed out as read from its original topic, partition and
// offset, as attempt 2; its offset in the retry topic is committed once
// acked.
func TestRetryTopicHoldsUntilDue(t *testing.T) {
	c, w := jobsTopic(t, 2)
	ctx := context.Background()
	sendJobs(t, w, 0, "a")
	delays := []time.Duration{2 * time.Second}
	if _, err := c.NewRetrier(ctx, broker.RetryOptions{Sources: []string{"jobs"}, Delays: delays}); err == nil {
		t.Error("a retrier without a group was made")
	}
	rt := jobsRetrier(t, c, delays)
	if n := c.partitionCount(ctx, "jobs.retry.2s"); n != 2 {
		t.Fatalf("retry topic has %d partitions, want 2", n)
	}
	cons := newConsumer(t, c, broker.ConsumerOptions{Sources: []string{"jobs"}, Group: "g", RetryDelays: delays})
	d := take(t, cons, 1)[0]
	if string(d.Value) != "a" || rt.Attempt(&d.Message) != 1 {
		t.Fatalf("first: %q attempt %d", d.Value, rt.Attempt(&d.Message))
	}
	if err := rt.Retry(ctx, d, 0, 2); err != nil {
		t.Fatal(err)
	}
	sendJobs(t, w, 1, "b")
	b := take(t, cons, 1)[0]
	if string(b.Value) != "b" {
		t.Fatalf("got %q while a waits, want b", b.Value)
	}
	if err := b.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	a := take(t, cons, 1)[0]
	if string(a.Value) != "a" || a.Destination != "jobs" || a.Kafka.Partition != 0 || a.Kafka.Offset != 0 || rt.Attempt(&a.Message) != 2 {
		t.Fatalf("back: %q from %s[%d]@%d attempt %d", a.Value, a.Destination, a.Kafka.Partition, a.Kafka.Offset, rt.Attempt(&a.Message))
	}
	if headerValue(a.Headers, hdrOrigTopic) != "jobs" || headerValue(a.Headers, hdrRetryDue) == "" {
		t.Errorf("headers %v", a.Headers)
	}
	if err := a.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cons.Close(); err != nil {
		t.Fatal(err)
	}
	commits, err := c.admin.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	commits.Each(func(o kadm.OffsetResponse) {
		if o.Topic == "jobs.retry.2s" {
			total += o.At
		}
	})
	if total != 1 {
		t.Errorf("committed %d records of the retry topic, want 1: %v", total, commits)
	}
}

// A parked record is handed out as read from its original topic,
// partition and offset; a warning about its place in the retry topic
// (here: nacked, so that partition is not committed from it on) names the
// retry topic with the record's own offset there, not the original one.
func TestRetryNackNamesRecordInRetryTopic(t *testing.T) {
	c, w := jobsTopic(t, 1)
	ctx := context.Background()
	sendJobs(t, w, 0, "a", "b", "c")
	delays := []time.Duration{10 * time.Millisecond}
	rt := jobsRetrier(t, c, delays)
	var log logLines
	cons := newConsumer(t, c, broker.ConsumerOptions{Sources: []string{"jobs"}, Group: "g", RetryDelays: delays, Logf: log.add})
	ds := take(t, cons, 3)
	for _, d := range ds[:2] {
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := rt.Retry(ctx, ds[2], 0, 2); err != nil {
		t.Fatal(err)
	}
	back := take(t, cons, 1)[0]
	if back.Destination != "jobs" || back.Kafka.Offset != 2 {
		t.Fatalf("back as %s, want jobs[0]@2", back.Where())
	}
	if err := back.Nack(ctx, 0); err != nil {
		t.Fatal(err)
	}
	want := `topic "jobs.retry.10ms" partition 0 is not committed from offset 0 on (the retry of jobs[0]@2)`
	if got := log.String(); !strings.Contains(got, want) {
		t.Errorf("warnings:\n%s\nwant one holding %s", got, want)
	}
}
