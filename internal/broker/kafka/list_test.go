package kafka

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

func TestList(t *testing.T) {
	for _, brokers := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d brokers", brokers), func(t *testing.T) {
			testList(t, brokers)
		})
	}
}

func testList(t *testing.T, brokers int) {
	ctx := context.Background()
	k := testenv.Kafka(t, sandbox.KafkaOptions{
		Brokers: brokers,
		Extra: []kfake.Opt{
			kfake.SeedTopics(3, "orders"),
			kfake.SeedTopics(1, "payments"),
			kfake.SeedTopics(5, "empty"),
		},
	})
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(k.Addrs()...),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.AllowAutoTopicCreation(),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	// An internal topic, the way kfake marks one.
	internal := "__consumer_offsets"
	if _, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"kfake.is_internal": kadm.StringPtr("true")}, internal); err != nil {
		t.Fatal(err)
	}

	// orders: 4+0+6 records; payments: 7; audit is auto-created with
	// the sandbox default of 4 partitions and gets 1.
	produce(t, cl, "orders", map[int32]int{0: 4, 2: 6})
	produce(t, cl, "payments", map[int32]int{0: 7})
	produce(t, cl, "audit", map[int32]int{3: 1})
	produce(t, cl, internal, map[int32]int{1: 2})

	// Deleting records moves a partition's start offset: 3 of orders'
	// partition 2 are gone, so it retains 3.
	deleted, err := adm.DeleteRecords(ctx, offsets(kadm.Offset{Topic: "orders", Partition: 2, At: 3}))
	if err != nil || deleted.Error() != nil {
		t.Fatalf("DeleteRecords: %v %v", err, deleted.Error())
	}

	// Two groups on orders, one of them also on payments.
	commit(t, adm, "billing", kadm.Offset{Topic: "orders", Partition: 0, At: 2})
	commit(t, adm, "shipping", kadm.Offset{Topic: "orders", Partition: 2, At: 5}, kadm.Offset{Topic: "payments", Partition: 0, At: 7})

	c, err := open(t, broker.Target{URL: k.URL, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.List(ctx, broker.ListQuery{Internal: true})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	want := []broker.Destination{
		{Broker: "kafka", Type: "topic", Name: "__consumer_offsets", Partitions: 2, Messages: 2, Written: 2, Internal: true},
		{Broker: "kafka", Type: "topic", Name: "audit", Partitions: 4, Messages: 1, Written: 1},
		{Broker: "kafka", Type: "topic", Name: "empty", Partitions: 5},
		{Broker: "kafka", Type: "topic", Name: "orders", Partitions: 3, Messages: 4 + 3, Written: 4 + 6, Consumers: 2},
		{Broker: "kafka", Type: "topic", Name: "payments", Partitions: 1, Messages: 7, Written: 7, Consumers: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("List returned %d topics, want %d:\n got %+v\nwant %+v", len(got), len(want), got, want)
	}
	for i := range want {
		if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
			t.Errorf("topic %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}

	// Without Internal the internal topics stay out unless named; names
	// select.
	for _, tc := range []struct {
		q    broker.ListQuery
		want []string
	}{
		{broker.ListQuery{}, []string{"audit", "empty", "orders", "payments"}},
		{broker.ListQuery{Names: []string{"orders", "__consumer_offsets", "nope"}}, []string{"__consumer_offsets", "orders"}},
	} {
		got, err := c.List(ctx, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, d := range got {
			names = append(names, d.Name)
		}
		if !slices.Equal(names, tc.want) {
			t.Errorf("List(%+v) = %q, want %q", tc.q, names, tc.want)
		}
	}
}

func TestListEmptyCluster(t *testing.T) {
	k := testenv.Kafka(t, sandbox.KafkaOptions{})
	c, err := open(t, broker.Target{URL: k.URL, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.List(context.Background(), broker.ListQuery{Internal: true})
	if err != nil || len(got) != 0 {
		t.Fatalf("List = %+v, %v; want nothing", got, err)
	}
}

// TestListBrokerGone checks that a cluster going away after Open yields a
// typed error within the caller's deadline, not a hang.
func TestListBrokerGone(t *testing.T) {
	c, k := openDoomed(t)
	k.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := c.List(ctx, broker.ListQuery{})
	if elapsed := time.Since(start); elapsed > testenv.Deadline(0) {
		t.Errorf("List took %v after the broker went away", elapsed)
	}
	if !mqerr.Is(err, mqerr.Unreachable) {
		t.Fatalf("List error = %v (kind %v), want Unreachable", err, mqerr.KindOf(err))
	}
	if !strings.HasPrefix(err.Error(), "cannot reach kafka at "+strings.TrimPrefix(k.URL, "kafka://")) {
		t.Errorf("error %q does not name the broker", err)
	}
}

// produce writes n records to each given partition and waits for the acks.
func produce(t *testing.T, cl *kgo.Client, topic string, perPartition map[int32]int) {
	t.Helper()
	var rs []*kgo.Record
	for p, n := range perPartition {
		for i := range n {
			rs = append(rs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%s-%d-%d", topic, p, i)})
		}
	}
	if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

func commit(t *testing.T, adm *kadm.Client, group string, os ...kadm.Offset) {
	t.Helper()
	resp, err := adm.CommitOffsets(context.Background(), group, offsets(os...))
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("commit for group %s: %v", group, err)
	}
}

func offsets(os ...kadm.Offset) kadm.Offsets {
	var out kadm.Offsets
	for _, o := range os {
		out.Add(o)
	}
	return out
}

// openDoomed opens a connection to a kfake cluster the test closes itself,
// to see what happens to a connection whose cluster went away.
func openDoomed(t *testing.T) (*Conn, *sandbox.Kafka) {
	t.Helper()
	k, err := sandbox.StartKafka(sandbox.KafkaOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := open(t, broker.Target{URL: k.URL, Timeout: 5 * time.Second})
	if err != nil {
		k.Close()
		t.Fatal(err)
	}
	return c, k
}
