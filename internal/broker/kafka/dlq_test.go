package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

func TestDeadLetterDestinationsByName(t *testing.T) {
	_, c := startKafka(t)
	for _, name := range []string{"orders", "orders.DLT", "payments-dlq", "dlq.events", "audit"} {
		createTopic(t, c, name, 2, nil)
	}
	ctx := context.Background()
	recs := []*kgo.Record{{Topic: "orders.DLT", Value: []byte("a")}, {Topic: "orders.DLT", Value: []byte("b")}, {Topic: "payments-dlq", Value: []byte("c")}}
	if err := c.client.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	got, err := c.DeadLetterDestinations(ctx, broker.DeadLetterQuery{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"dlq.events": 0, "orders.DLT": 2, "payments-dlq": 1}
	if len(got) != len(want) {
		t.Fatalf("found %+v, want %v", got, want)
	}
	for _, d := range got {
		if n, ok := want[d.Name]; !ok || d.Messages != n || d.Type != "topic" || d.Why == "" {
			t.Errorf("unexpected %+v", d)
		}
	}
	got, _ = c.DeadLetterDestinations(ctx, broker.DeadLetterQuery{Patterns: []string{"aud*"}})
	if len(got) != 1 || got[0].Name != "audit" || got[0].Why != "name matches aud*" {
		t.Errorf("custom pattern: %+v", got)
	}
}

func TestPurgeDeletesUpToTheSnapshot(t *testing.T) {
	_, c := startKafka(t)
	createTopic(t, c, "t.DLT", 2, nil)
	ctx := context.Background()
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, &kgo.Record{Topic: "t.DLT", Partition: int32(i % 2), Value: []byte{byte(i)}})
	}
	p := newProducer(t, c, broker.ProducerOptions{Destination: "t.DLT", Partitioner: "manual"})
	msgs := make([]*broker.Message, len(recs))
	for i, r := range recs {
		msgs[i] = &broker.Message{Value: r.Value, Kafka: broker.KafkaMeta{Partition: r.Partition}}
	}
	publishAll(t, p, msgs)

	n, err := c.Purge(ctx, broker.PurgeRequest{Dest: "t.DLT", Before: map[int32]int64{0: 2}})
	if err != nil || n != 2 {
		t.Fatalf("Purge before 2 on partition 0: %d, %v", n, err)
	}
	starts, _ := c.admin.ListStartOffsets(ctx, "t.DLT")
	if s, _ := starts.Lookup("t.DLT", 0); s.Offset != 2 {
		t.Errorf("partition 0 starts at %d", s.Offset)
	}
	if n, err = c.Purge(ctx, broker.PurgeRequest{Dest: "t.DLT"}); err != nil || n != 8 {
		t.Fatalf("Purge all: %d, %v", n, err)
	}
	if n, err = c.Purge(ctx, broker.PurgeRequest{Dest: "t.DLT"}); err != nil || n != 0 {
		t.Fatalf("Purge of an empty topic: %d, %v", n, err)
	}
	if _, err := c.Purge(ctx, broker.PurgeRequest{Dest: "nope"}); !mqerr.Is(err, mqerr.NotFound) {
		t.Errorf("missing topic: %v", err)
	}
}

func TestPerMessageDestination(t *testing.T) {
	_, c := startKafka(t)
	createTopic(t, c, "a", 1, nil)
	createTopic(t, c, "b", 1, nil)
	p := newProducer(t, c, broker.ProducerOptions{PerMessageDestination: true, ConfirmTimeout: 10 * time.Second})
	out := publishAll(t, p, []*broker.Message{
		{Destination: "a", Value: []byte("1"), Kafka: broker.KafkaMeta{Partition: -1}},
		{Destination: "missing-topic", Value: []byte("x"), Kafka: broker.KafkaMeta{Partition: -1}},
		{Destination: "b", Value: []byte("2"), Kafka: broker.KafkaMeta{Partition: -1}},
		{Value: []byte("no topic"), Kafka: broker.KafkaMeta{Partition: -1}},
	})
	if out.errs[0] != nil || out.errs[2] != nil {
		t.Fatalf("a: %v, b: %v", out.errs[0], out.errs[2])
	}
	if !mqerr.Is(out.errs[1], mqerr.NotFound) {
		t.Errorf("missing topic: %v", out.errs[1])
	}
	if !mqerr.Is(out.errs[3], mqerr.Usage) {
		t.Errorf("no topic: %v", out.errs[3])
	}
	if got := readTopic(t, c, "a"); len(got) != 1 || string(got[0].Value) != "1" {
		t.Errorf("a holds %v", got)
	}
	if got := readTopic(t, c, "b"); len(got) != 1 || string(got[0].Value) != "2" {
		t.Errorf("b holds %v", got)
	}
}
