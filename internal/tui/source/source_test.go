package source

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/broker"
	_ "github.com/mqctl/mqctl/internal/broker/kafka"
	_ "github.com/mqctl/mqctl/internal/broker/nats"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
	"github.com/mqctl/mqctl/internal/tui"
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

// springHeaders are the headers Spring Kafka's DeadLetterPublishingRecoverer
// writes (partition and offset as big-endian binary), as the sandbox demo
// seeds them.
func springHeaders(topic string, offset int64, reason string) []kgo.RecordHeader {
	return []kgo.RecordHeader{
		{Key: "kafka_dlt-original-topic", Value: []byte(topic)},
		{Key: "kafka_dlt-original-partition", Value: binary.BigEndian.AppendUint32(nil, 0)},
		{Key: "kafka_dlt-original-offset", Value: binary.BigEndian.AppendUint64(nil, uint64(offset))},
		{Key: "kafka_dlt-exception-fqcn", Value: []byte("org.springframework.kafka.listener.ListenerExecutionFailedException")},
		{Key: "kafka_dlt-exception-message", Value: []byte(reason)},
	}
}

// Against a real kfake cluster: Read gives a Spring DLT's most frequent
// reason and original topic from its records, commits nothing, and reads
// it again once its depth changed.
func TestBrokersReadSamplesKafkaDeadLetters(t *testing.T) {
	ctx := context.Background()
	k := testenv.Kafka(t, sandbox.KafkaOptions{})
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "orders", "payments", "orders.DLT"); err != nil {
		t.Fatal(err)
	}
	const sku = "Listener failed; nested exception is java.lang.IllegalStateException: SKU not found"
	produce := func(origin string, offset int64, reason string) {
		t.Helper()
		r := &kgo.Record{Topic: "orders.DLT", Value: []byte("{}"), Headers: springHeaders(origin, offset, reason)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce("orders", 1, sku)
	produce("payments", 2, "Cannot convert from [[B] to [Order]")
	produce("orders", 3, sku)

	s := &Brokers{Targets: []broker.Target{{Context: "k", URL: k.URL, Timeout: 5 * time.Second}}}
	defer s.Close()
	row := func() tui.DeadLetterRow {
		t.Helper()
		snap, err := s.Read(ctx, 0)
		if err != nil || len(snap.DeadLetters) != 1 {
			t.Fatalf("read: %+v, %v", snap.DeadLetters, err)
		}
		return snap.DeadLetters[0]
	}
	r := row()
	if r.TopReason != sku || r.Origin != "orders" || r.Sampled != 3 || r.NotRead {
		t.Fatalf("sampled %+v", r)
	}
	produce("payments", 4, "Cannot convert from [[B] to [Order]")
	produce("payments", 5, "Cannot convert from [[B] to [Order]")
	if r := row(); r.Sampled != 5 || r.Origin != "payments" || r.TopReason != "Cannot convert from [[B] to [Order]" {
		t.Fatalf("after two more dead letters: %+v", r)
	}
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g := groups.Groups(); len(g) != 0 {
		t.Errorf("sampling left groups behind: %v", g)
	}
}

// Against a real nats-server: a stream of MAX_DELIVERIES/MSG_TERMINATED
// advisories is sampled by following each advisory to its message, which
// gives the reason (with the consumer's +TERM reason) and the original
// subject; the sample acks nothing, so the stream holds all it held.
func TestBrokersReadSamplesJetStreamAdvisories(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, js := natsJetStream(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatal(err)
	}
	dl, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "DEAD_LETTERS", Subjects: []string{
		"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>", "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.>"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		subject := "orders.created"
		if i == 3 {
			subject = "orders.paid"
		}
		if _, err := js.Publish(ctx, subject, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	worker, err := js.CreateConsumer(ctx, "ORDERS", jetstream.ConsumerConfig{Durable: "processor", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := worker.Fetch(4, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		if err := m.TermWithReason("invalid SKU"); err != nil {
			t.Fatal(err)
		}
	}
	for {
		info, err := dl.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs == 4 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("DEAD_LETTERS holds %d advisories, want 4", info.State.Msgs)
		case <-time.After(50 * time.Millisecond):
		}
	}

	s := &Brokers{Targets: []broker.Target{{Context: "js", URL: srv.URL, Timeout: 5 * time.Second}}}
	defer s.Close()
	snap, err := s.Read(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var r *tui.DeadLetterRow
	for j := range snap.DeadLetters {
		if snap.DeadLetters[j].Name == "DEAD_LETTERS" {
			r = &snap.DeadLetters[j]
		}
	}
	if r == nil {
		t.Fatalf("no DEAD_LETTERS row: %+v", snap.DeadLetters)
	}
	if r.TopReason != "terminated: invalid SKU" || r.Origin != "orders.created" || r.Sampled != 4 || r.NotRead {
		t.Fatalf("sampled %+v", *r)
	}
	info, err := dl.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 4 || info.State.Consumers != 0 {
		t.Fatalf("after the sample DEAD_LETTERS holds %d messages and %d consumers, want 4 and 0", info.State.Msgs, info.State.Consumers)
	}
}
