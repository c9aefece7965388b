package testenv

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/sandbox"
)

// OffsetsKafka is the fixture of the offsets reset tests (internal/offsets
// and top's reset action): a kfake cluster with topic orders whose 3
// partitions hold 10, 20 and 30 records a second apart from Base, partition
// 2 trimmed below 5, and group billing committed at 4, 15 and 30.
type OffsetsKafka struct {
	K    *sandbox.Kafka
	Adm  *kadm.Client
	Base time.Time
}

// NewOffsetsKafka starts the fixture; it is closed when t ends.
func NewOffsetsKafka(t *testing.T) *OffsetsKafka {
	t.Helper()
	k := Kafka(t, sandbox.KafkaOptions{Extra: []kfake.Opt{kfake.SeedTopics(3, "orders")}})
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	e := &OffsetsKafka{K: k, Adm: kadm.NewClient(cl), Base: time.Now().Add(-time.Hour).Truncate(time.Second)}
	var rs []*kgo.Record
	for p, n := range []int{10, 20, 30} {
		for i := range n {
			rs = append(rs, &kgo.Record{Topic: "orders", Partition: int32(p), Value: fmt.Appendf(nil, "%d-%d", p, i),
				Timestamp: e.Base.Add(time.Duration(i) * time.Second)})
		}
	}
	ctx := context.Background()
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var del kadm.Offsets
	del.Add(kadm.Offset{Topic: "orders", Partition: 2, At: 5})
	if resp, err := e.Adm.DeleteRecords(ctx, del); err != nil || resp.Error() != nil {
		t.Fatalf("DeleteRecords: %v %v", err, resp.Error())
	}
	e.Commit(t, "billing", map[int32]int64{0: 4, 1: 15, 2: 30})
	return e
}

// Commit commits group's offsets on orders with kadm.
func (e *OffsetsKafka) Commit(t *testing.T, group string, at map[int32]int64) {
	t.Helper()
	var os kadm.Offsets
	for p, o := range at {
		os.Add(kadm.Offset{Topic: "orders", Partition: p, At: o, LeaderEpoch: -1})
	}
	resp, err := e.Adm.CommitOffsets(context.Background(), group, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("commit %s: %v", group, err)
	}
}

// Committed reads group's offsets on orders back with kadm, by partition.
func (e *OffsetsKafka) Committed(t *testing.T, group string) map[int32]int64 {
	t.Helper()
	return CommittedOffsets(t, e.Adm, group, "orders")
}

// CommittedOffsets reads group's committed offsets on topic with kadm, by
// partition.
func CommittedOffsets(t *testing.T, adm *kadm.Client, group, topic string) map[int32]int64 {
	t.Helper()
	resp, err := adm.FetchOffsets(context.Background(), group)
	if err != nil {
		t.Fatalf("FetchOffsets %s: %v", group, err)
	}
	out := map[int32]int64{}
	for p, o := range resp[topic] {
		out[p] = o.At
	}
	return out
}

// FetchSeqs fetches up to n messages from a JetStream consumer (acking
// each and waiting for the server's confirmation when ack is set) and
// returns their stream sequences.
func FetchSeqs(t *testing.T, ctx context.Context, cons jetstream.Consumer, n int, ack bool) []uint64 {
	t.Helper()
	batch, err := cons.Fetch(n, jetstream.FetchMaxWait(Deadline(2*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for m := range batch.Messages() {
		md, _ := m.Metadata()
		seqs = append(seqs, md.Sequence.Stream)
		if ack {
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	return seqs
}
