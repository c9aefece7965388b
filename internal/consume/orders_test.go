package consume

import (
	"context"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// orders is a kfake cluster of its own with a topic "orders", and the
// test's client writing to the partition a record names; closed when the
// test ends.
type orders struct {
	k  *sandbox.Kafka
	cl *kgo.Client
}

// ordersTopic makes orders with the given number of partitions.
func ordersTopic(t *testing.T, partitions int32) orders {
	t.Helper()
	o := orders{k: testenv.Kafka(t, sandbox.KafkaOptions{Extra: []kfake.Opt{kfake.SeedTopics(partitions, "orders")}})}
	var err error
	if o.cl, err = kgo.NewClient(kgo.SeedBrokers(o.k.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.cl.Close)
	return o
}

// produce writes n records "m0", "m1", ... to partition p, one after the
// other.
func (o orders) produce(t *testing.T, ctx context.Context, p int32, n int) {
	t.Helper()
	for i := range n {
		if err := o.cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Partition: p, Value: fmt.Appendf(nil, "m%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// open opens mqctl's connection to the cluster, closed when the test ends.
func (o orders) open(t *testing.T, ctx context.Context) broker.Conn {
	t.Helper()
	conn, err := broker.Open(ctx, broker.Target{URL: o.k.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// committed is what group committed on "orders", per partition.
func (o orders) committed(t *testing.T, group string) map[int32]int64 {
	t.Helper()
	return testenv.CommittedOffsets(t, kadm.NewClient(o.cl), group, "orders")
}

// openConsumer makes conn's consumer of opts.
func openConsumer(t *testing.T, ctx context.Context, conn broker.Conn, opts broker.ConsumerOptions) broker.Consumer {
	t.Helper()
	sub, err := broker.As[broker.Subscriber](conn, "consuming")
	if err != nil {
		t.Fatal(err)
	}
	c, err := sub.NewConsumer(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
