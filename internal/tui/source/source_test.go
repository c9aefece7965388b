package source

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/broker"
	_ "github.com/mqctl/mqctl/internal/broker/kafka"
	_ "github.com/mqctl/mqctl/internal/broker/nats"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// Against a real kfake cluster: Read reports destinations, lag and the
// DLT; Peek reads the DLT twice alike and commits nothing.
func TestBrokersReadAndPeekKafka(t *testing.T) {
	ctx := context.Background()
	k := testenv.Kafka(t, sandbox.KafkaOptions{})
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "orders", "orders.DLT"); err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"orders", "orders", "orders.DLT", "orders.DLT"} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	offs := kadm.Offsets{}
	offs.AddOffset("orders", 0, 0, -1)
	if _, err := adm.CommitOffsets(ctx, "billing", offs); err != nil {
		t.Fatal(err)
	}

	s := &Brokers{Targets: []broker.Target{{Context: "k", URL: k.URL, Timeout: 5 * time.Second}}}
	defer s.Close()
	snap, err := s.Read(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Broker != "kafka" || len(snap.Destinations) < 2 || len(snap.DeadLetters) != 1 || snap.DeadLetters[0].Name != "orders.DLT" {
		t.Fatalf("snapshot %+v", snap)
	}
	var lagged bool
	for _, r := range snap.Lag {
		lagged = lagged || (r.Group == "billing" && r.Lag == 2)
	}
	if !lagged {
		t.Fatalf("billing should lag by 2: %+v", snap.Lag)
	}
	for range 2 {
		msgs, err := s.Peek(ctx, 0, "orders.DLT", 50)
		if err != nil || len(msgs) != 2 {
			t.Fatalf("peek: %d messages, %v", len(msgs), err)
		}
	}
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups.Groups() {
		if g != "billing" {
			t.Errorf("peek left group %q behind", g)
		}
	}
}

// A connection the driver gave up on (nats.go closes it after its last
// reconnect attempt) is not kept for ever: the read that finds it closed
// fails, and the next one opens a new connection and reads again.
func TestBrokersReopenAClosedConnection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	s := &Brokers{Targets: []broker.Target{{Context: "js", URL: srv.URL, Timeout: 5 * time.Second}}}
	defer s.Close()
	if _, err := s.Read(ctx, 0); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	first := s.conns[0]
	s.mu.Unlock()
	first.Close()
	if _, err := s.Read(ctx, 0); err == nil {
		t.Fatal("a read on a closed connection succeeded")
	}
	snap, err := s.Read(ctx, 0)
	if err != nil || snap.Broker != "nats" || snap.Destinations == nil {
		t.Fatalf("the read after a closed connection: %+v, %v", snap, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns[0] == first {
		t.Fatal("the closed connection is still in use")
	}
}
