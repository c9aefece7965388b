package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/broker"
)

// A topic written in transactions ends in a commit marker, which takes an
// offset but is never a message: UntilEnd must still end, and a group
// must commit past the marker.
func TestConsumeUntilEndPassesTransactionMarkers(t *testing.T) {
	k, c := startKafka(t)
	createTopic(t, c, "txn.DLT", 1, nil)
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...), kgo.TransactionalID("mqctl-test"), kgo.DefaultProduceTopic("txn.DLT"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"a", "b", "c"} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	ends, err := c.admin.ListEndOffsets(ctx, "txn.DLT")
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := ends.Lookup("txn.DLT", 0); e.Offset != 4 {
		t.Fatalf("end offset %d: want 3 records and a marker", e.Offset)
	}
	for _, group := range []string{"", "txn-group"} {
		cons := newConsumer(t, c, broker.ConsumerOptions{Sources: []string{"txn.DLT"}, Group: group, UntilEnd: true})
		start := time.Now()
		ds := drain(t, cons)
		if len(ds) != 3 || string(ds[2].Value) != "c" {
			t.Fatalf("group %q: %d deliveries", group, len(ds))
		}
		for _, d := range ds {
			if err := d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := cons.Close(); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el > 10*time.Second {
			t.Errorf("group %q: UntilEnd took %s", group, el)
		}
	}
	offs, err := kadm.NewClient(c.client).FetchOffsets(ctx, "txn-group")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := offs.Lookup("txn.DLT", 0); o.At != 4 {
		t.Errorf("group committed %d, want 4 (past the marker)", o.At)
	}
}
