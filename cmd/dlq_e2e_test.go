package cmd_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/testenv"
)

// deadLetterAMQP publishes values to queue and rejects them all, so they
// land in its dead-letter queue with x-death.
func deadLetterAMQP(t *testing.T, ch *amqp.Channel, queue string, values ...string) {
	t.Helper()
	for i, v := range values {
		err := ch.PublishWithContext(context.Background(), "", queue, false, false, amqp.Publishing{
			Body: []byte(v), MessageId: "m-" + strconv.Itoa(i), ContentType: "text/plain",
			Headers: amqp.Table{"tenant": "eu", "n": int32(i)}, DeliveryMode: amqp.Persistent})
		if err != nil {
			t.Fatal(err)
		}
	}
	for range values {
		var d amqp.Delivery
		var ok bool
		for deadline := time.Now().Add(5 * time.Second); !ok; {
			var err error
			if d, ok, err = ch.Get(queue, false); err != nil {
				t.Fatal(err)
			}
			if !ok && time.Now().After(deadline) {
				t.Fatalf("nothing to get from %s", queue)
			}
		}
		if err := d.Reject(false); err != nil {
			t.Fatal(err)
		}
	}
}

// waitDepth waits until queue holds want messages.
func waitDepth(t *testing.T, ch *amqp.Channel, queue string, want int) {
	t.Helper()
	if got := testenv.WaitQueue(t, ch, queue, 10*time.Second, func(q amqp.Queue) bool { return q.Messages == want }).Messages; got != want {
		t.Fatalf("%s holds %d messages, want %d", queue, got, want)
	}
}

// waitConsumersGone waits until the broker has let go of the consumers of
// a killed process: only then are its unacked deliveries back in the
// queue, and a run with --until-end (which counts the ready messages at
// its start) sees them all.
func waitConsumersGone(t *testing.T, ch *amqp.Channel, queue string) {
	t.Helper()
	if n := testenv.WaitQueue(t, ch, queue, 10*time.Second, func(q amqp.Queue) bool { return q.Consumers == 0 }).Consumers; n != 0 {
		t.Fatalf("%s still has %d consumers after the kill", queue, n)
	}
}

// RabbitMQ: ls finds the DLQ of a queue-argument DLX and of a policy DLX
// (quorum queues), peek decodes x-death, replay brings every message back
// byte-identical to its queue, and a filtered purge removes only matches.
func TestDLQRabbitMQ(t *testing.T) {
	u, ch := rabbitQueue(t, "orders", amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "orders.dlq"})
	if _, err := ch.QueueDeclare("orders.dlq", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	// A quorum queue whose DLX comes from a policy, fanning out to its DLQ.
	rmq := testenv.RabbitMQ(t)
	vh := u[strings.LastIndex(u, "/")+1:]
	quorum := amqp.Table{"x-queue-type": "quorum"}
	for _, q := range []string{"payments", "payments.dead"} {
		if _, err := ch.QueueDeclare(q, true, false, false, false, quorum); err != nil {
			t.Fatal(err)
		}
	}
	if err := ch.ExchangeDeclare("payments.dlx", "fanout", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind("payments.dead", "", "payments.dlx", false, nil); err != nil {
		t.Fatal(err)
	}
	rmq.MustCall(t, http.MethodPut, "/api/policies/"+vh+"/dlx", map[string]any{
		"pattern": "^payments$", "apply-to": "queues", "definition": map[string]any{"dead-letter-exchange": "payments.dlx"}}, nil)
	time.Sleep(500 * time.Millisecond) // policies apply asynchronously

	deadLetterAMQP(t, ch, "orders", "keep-1", "drop-2", "keep-3", "drop-4", "keep-5")
	deadLetterAMQP(t, ch, "payments", "pay-1", "pay-2")
	waitDepth(t, ch, "orders.dlq", 5)
	waitDepth(t, ch, "payments.dead", 2)

	c := newCLI(t)
	// dlq ls reads the management API; the test node's is not on 15672.
	if r := c.run("context", "add", "r", "--url", u, "--management-url", rmq.APIURL, "--use"); r.code != 0 {
		t.Fatalf("context add: %+v", r)
	}
	r := c.run("dlq", "ls", "-o", "json")
	if r.code != 0 {
		t.Fatalf("ls: %+v", r)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatal(err)
	}
	found := map[string]float64{}
	for _, row := range rows {
		found[row["name"].(string)] = row["messages"].(float64)
	}
	if found["orders.dlq"] != 5 || found["payments.dead"] != 2 {
		t.Errorf("dlq ls found %v", found)
	}
	if _, ok := found["orders"]; ok {
		t.Errorf("a source queue is listed as a DLQ: %v", found)
	}

	r = c.run("dlq", "peek", "orders.dlq", "-n", "2", "-o", "jsonl")
	if r.code != 0 {
		t.Fatalf("peek: %+v", r)
	}
	var item struct {
		Origin struct {
			Reason, Destination string
			Count               int
		} `json:"origin"`
	}
	json.Unmarshal([]byte(strings.SplitN(r.stdout, "\n", 2)[0]), &item)
	if item.Origin.Reason != "rejected" || item.Origin.Destination != "orders" || item.Origin.Count != 1 {
		t.Errorf("peek origin %+v from %s", item.Origin, r.stdout)
	}

	// Filtered purge: only the drop-* go, exported first; the keep-* stay in order.
	export := filepath.Join(t.TempDir(), "dropped.jsonl")
	r = c.run("dlq", "purge", "orders.dlq", "--grep", "^drop-", "--export", export, "--yes")
	if r.code != 0 || !strings.Contains(r.stderr, "purged 2") {
		t.Fatalf("filtered purge: %+v", r)
	}
	waitDepth(t, ch, "orders.dlq", 3)
	if b, _ := os.ReadFile(export); strings.Count(string(b), "\n") != 2 || !strings.Contains(string(b), "drop-4") {
		t.Errorf("export holds %q", b)
	}

	r = c.run("dlq", "replay", "orders.dlq", "--dry-run")
	if r.code != 0 || strings.Count(r.stdout, "replay ") != 3 {
		t.Fatalf("dry run: %+v", r)
	}
	waitDepth(t, ch, "orders.dlq", 3)

	r = c.run("dlq", "replay", "orders.dlq")
	expectError(t, r, 2, "--yes")
	r = c.run("dlq", "replay", "orders.dlq", "--yes")
	if r.code != 0 || !strings.Contains(r.stderr, "replayed 3") {
		t.Fatalf("replay: %+v", r)
	}
	waitDepth(t, ch, "orders.dlq", 0)
	for _, want := range []string{"keep-1", "keep-3", "keep-5"} {
		d, ok, err := ch.Get("orders", true)
		if err != nil || !ok {
			t.Fatalf("get orders: ok=%v err=%v", ok, err)
		}
		if string(d.Body) != want || d.ContentType != "text/plain" || !strings.HasPrefix(d.MessageId, "m-") ||
			fmt.Sprint(d.Headers["tenant"]) != "eu" || fmt.Sprint(d.Headers["mq-replay-count"]) != "1" || d.Headers["x-death"] != nil {
			t.Errorf("replayed %q id %q headers %v", d.Body, d.MessageId, d.Headers)
		}
	}

	// Export then produce restores the purged ones.
	r = c.run("produce", "--queue", "orders.dlq", "--format", "jsonl", "--file", export)
	if r.code != 0 {
		t.Fatalf("restore: %+v", r)
	}
	waitDepth(t, ch, "orders.dlq", 2)

	// Policy DLX on quorum queues: replay goes back to payments.
	r = c.run("dlq", "replay", "payments.dead", "--yes")
	if r.code != 0 || !strings.Contains(r.stderr, "replayed 2") {
		t.Fatalf("replay payments: %+v", r)
	}
	waitDepth(t, ch, "payments", 2)
}

// A target that dead-letters every replay again does not loop: the run
// reads only the depth at its start.
func TestDLQReplayRejectingTargetDoesNotLoop(t *testing.T) {
	u, ch := rabbitQueue(t, "jobs", amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "jobs.dlq"})
	if _, err := ch.QueueDeclare("jobs.dlq", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	vals := make([]string, 50)
	for i := range vals {
		vals[i] = "job-" + strconv.Itoa(i)
	}
	deadLetterAMQP(t, ch, "jobs", vals...)
	waitDepth(t, ch, "jobs.dlq", 50)
	// A consumer that rejects everything arriving on jobs.
	conn, err := amqp.Dial(u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rch, _ := conn.Channel()
	ds, err := rch.Consume("jobs", "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for d := range ds {
			d.Reject(false)
		}
	}()
	c := newCLI(t)
	c.env = []string{"MQCTL_URL=" + u}
	r := c.run("dlq", "replay", "jobs.dlq", "--yes", "--max-replays", "1")
	if r.code != 0 || !strings.Contains(r.stderr, "replayed 50") {
		t.Fatalf("replay: %+v", r)
	}
	waitDepth(t, ch, "jobs.dlq", 50)
	// Second round: all were replayed once; --max-replays 1 leaves them.
	r = c.run("dlq", "replay", "jobs.dlq", "--yes", "--max-replays", "1")
	if r.code != 0 || !strings.Contains(r.stderr, "replayed 0") || !strings.Contains(r.stderr, "over --max-replays 50") {
		t.Fatalf("second replay: %+v", r)
	}
	waitDepth(t, ch, "jobs.dlq", 50)
}

// kill -9 of a replay at random moments, then a rerun: every dead letter
// reached the target at least once and the DLQ is empty.
func TestDLQReplayKill9LosesNothing(t *testing.T) {
	const n = 3000
	u, ch := rabbitQueue(t, "work", amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "work.dlq"})
	if _, err := ch.QueueDeclare("work.dlq", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	vals := make([]string, n)
	for i := range vals {
		vals[i] = "w-" + strconv.Itoa(i)
	}
	deadLetterAMQP(t, ch, "work", vals...)
	waitDepth(t, ch, "work.dlq", n)
	c := newCLI(t)
	c.env = []string{"MQCTL_URL=" + u}
	for round := range 2 {
		// Killed once the replay has moved some: on a loaded machine a
		// fixed delay can land before the first confirm.
		before := queueDepth(t, ch, "work")
		cmd := c.command(context.Background(), "dlq", "replay", "work.dlq", "--yes", "--rate", "2000")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(testenv.Deadline(10 * time.Second)); queueDepth(t, ch, "work") <= before+round*200 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		waitConsumersGone(t, ch, "work.dlq")
		replayed, left := queueDepth(t, ch, "work"), queueDepth(t, ch, "work.dlq")
		t.Logf("round %d: work holds %d, work.dlq %d", round, replayed, left)
		if round == 0 && (replayed == 0 || left == 0) {
			t.Fatalf("the kill did not land mid-replay: %d replayed, %d left", replayed, left)
		}
	}
	if r := c.run("dlq", "replay", "work.dlq", "--yes"); r.code != 0 {
		t.Fatalf("final replay: %+v", r)
	}
	waitDepth(t, ch, "work.dlq", 0)
	seen := map[string]bool{}
	dup := 0
	for {
		d, ok, err := ch.Get("work", true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if seen[string(d.Body)] {
			dup++
		}
		seen[string(d.Body)] = true
	}
	if len(seen) != n {
		t.Errorf("%d of %d dead letters reached the target", len(seen), n)
	}
	if dup > 2*1000 {
		t.Errorf("%d duplicates: more than the in-flight window per kill", dup)
	}
}

// springHeaders are the headers Spring's DeadLetterPublishingRecoverer writes.
func springHeaders(topic string, partition int32, offset int64, reason string) []kgo.RecordHeader {
	p := binary.BigEndian.AppendUint32(nil, uint32(partition))
	o := binary.BigEndian.AppendUint64(nil, uint64(offset))
	return []kgo.RecordHeader{
		{Key: "trace", Value: []byte("t-1")},
		{Key: "kafka_dlt-original-topic", Value: []byte(topic)},
		{Key: "kafka_dlt-original-partition", Value: p},
		{Key: "kafka_dlt-original-offset", Value: o},
		{Key: "kafka_dlt-exception-message", Value: []byte(reason)},
		{Key: "kafka_dlt-exception-fqcn", Value: []byte("java.lang.IllegalStateException")},
	}
}

// Kafka: a Spring .DLT and a Connect DLQ are found, decoded, and replayed
// byte-identical to their original topics; purge deletes up to the end.
func TestDLQKafka(t *testing.T) {
	k, cl := kafkaTopic(t, "orders", 2, nil)
	adm := kadm.NewClient(cl)
	for _, topic := range []string{"orders.DLT", "sink-dlq", "events"} {
		if _, err := adm.CreateTopic(context.Background(), 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	var recs []*kgo.Record
	for i := range 4 {
		recs = append(recs, &kgo.Record{Topic: "orders.DLT", Key: []byte("k" + strconv.Itoa(i)), Value: []byte("bad-order-" + strconv.Itoa(i)),
			Headers: springHeaders("orders", int32(i%2), int64(10+i), "price missing")})
	}
	recs = append(recs, &kgo.Record{Topic: "sink-dlq", Value: []byte("bad-event"), Headers: []kgo.RecordHeader{
		{Key: "__connect.errors.topic", Value: []byte("events")}, {Key: "__connect.errors.partition", Value: []byte("0")},
		{Key: "__connect.errors.offset", Value: []byte("77")}, {Key: "__connect.errors.exception.message", Value: []byte("schema mismatch")}}})
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	c := newCLI(t)
	r := c.run("dlq", "ls", "--url", k.URL)
	if r.code != 0 || !strings.Contains(r.stdout, "orders.DLT") || !strings.Contains(r.stdout, "sink-dlq") || !strings.Contains(r.stdout, "price missing (4)") {
		t.Fatalf("ls: %+v", r)
	}
	r = c.run("dlq", "stats", "orders.DLT", "--url", k.URL, "-o", "json")
	var st struct {
		Total        int
		Destinations []struct {
			Key   string
			Count int
		}
	}
	if json.Unmarshal([]byte(r.stdout), &st); r.code != 0 || st.Total != 4 || len(st.Destinations) != 1 || st.Destinations[0].Key != "orders" {
		t.Fatalf("stats: %+v %+v", r, st)
	}
	r = c.run("dlq", "stats", "orders.DLT", "--url", k.URL, "--check", "--warn", "1", "--crit", "10")
	if r.code != 1 || !strings.HasPrefix(r.stdout, "WARN dlq=orders.DLT messages=4") {
		t.Fatalf("stats --check: %+v", r)
	}

	r = c.run("dlq", "replay", "orders.DLT", "--url", k.URL, "--yes")
	if r.code != 0 || !strings.Contains(r.stderr, "replayed 4") {
		t.Fatalf("replay: %+v", r)
	}
	got := readTopic(t, k.Addrs(), "orders", 4)
	for _, rec := range got {
		if !strings.HasPrefix(string(rec.Value), "bad-order-") || headerString(rec.Headers) != `trace="t-1",mq-replay-count="1"` {
			t.Errorf("replayed %q headers %s", rec.Value, headerString(rec.Headers))
		}
	}
	// A rerun resumes from the group's commits: nothing is replayed twice.
	r = c.run("dlq", "replay", "orders.DLT", "--url", k.URL, "--yes")
	if r.code != 0 || !strings.Contains(r.stderr, "replayed 0") {
		t.Fatalf("rerun: %+v", r)
	}
	r = c.run("dlq", "replay", "sink-dlq", "--url", k.URL, "--yes")
	if r.code != 0 || !strings.Contains(r.stderr, "replayed 1") {
		t.Fatalf("replay connect: %+v", r)
	}
	if rec := readTopic(t, k.Addrs(), "events", 1)[0]; string(rec.Value) != "bad-event" {
		t.Errorf("connect replay: %q", rec.Value)
	}

	expectError(t, c.run("dlq", "purge", "orders.DLT", "--url", k.URL, "--grep", "x", "--yes"), 2, "not supported on Kafka")
	export := filepath.Join(t.TempDir(), "dlt.jsonl")
	r = c.run("dlq", "purge", "orders.DLT", "--url", k.URL, "--export", export, "--yes")
	if r.code != 0 || !strings.Contains(r.stderr, "purged 4") {
		t.Fatalf("purge: %+v", r)
	}
	starts, err := adm.ListStartOffsets(context.Background(), "orders.DLT")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup("orders.DLT", 0); o.Offset != 4 {
		t.Errorf("start offset after purge = %d, want 4", o.Offset)
	}
}

// JetStream: terminated messages are found through the advisory stream,
// peeked with their original, and replayed to their subject; each
// advisory is deleted only after the PubAck.
func TestDLQJetStreamAdvisories(t *testing.T) {
	srv, js, _ := natsStream(t, "ORDERS", []string{"orders.>"}, "orders.eu", 0)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "DEAD", Storage: jetstream.FileStorage, Subjects: []string{
		"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.ORDERS.>", "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.ORDERS.>"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		msg := nats.NewMsg("orders.eu")
		msg.Data = []byte("order-" + strconv.Itoa(i))
		msg.Header.Set("tenant", "eu")
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := js.CreateConsumer(ctx, "ORDERS", jetstream.ConsumerConfig{Durable: "w", AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: 2})
	if err != nil {
		t.Fatal(err)
	}
	// order-0 and order-1 are termed (MSG_TERMINATED), order-2 is acked,
	// order-3 is nacked until MaxDeliver 2 gives up on it (MAX_DELIVERIES).
	for round := range 2 {
		batch, err := cons.Fetch(4, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			switch v := string(m.Data()); {
			case v == "order-3":
				m.Nak()
			case round == 0 && v == "order-2":
				m.Ack()
			case round == 0:
				m.Term()
			}
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, _ := js.Stream(ctx, "DEAD")
		info, _ := s.Info(ctx)
		if info.State.Msgs == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("DEAD holds %d advisories, want 3", info.State.Msgs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c := newCLI(t)
	r := c.run("dlq", "ls", "--url", srv.URL, "-o", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"name": "DEAD"`) || !strings.Contains(r.stdout, `"advisories": true`) {
		t.Fatalf("ls: %+v", r)
	}
	r = c.run("dlq", "peek", "DEAD", "--url", srv.URL)
	if r.code != 0 || !strings.Contains(r.stdout, "order-0") || !strings.Contains(r.stdout, "terminated") ||
		!strings.Contains(r.stdout, "order-3") || !strings.Contains(r.stdout, "max_deliveries") {
		t.Fatalf("peek: %+v", r)
	}
	// A filtered purge removes only the MAX_DELIVERIES advisory.
	r = c.run("dlq", "purge", "DEAD", "--url", srv.URL, "--reason", "max_deliveries", "--yes")
	if r.code != 0 || !strings.Contains(r.stderr, "purged 1") {
		t.Fatalf("filtered purge: %+v", r)
	}
	r = c.run("dlq", "replay", "DEAD", "--url", srv.URL, "--yes")
	if r.code != 0 || !strings.Contains(r.stderr, "replayed 2") {
		t.Fatalf("replay: %+v", r)
	}
	s, _ := js.Stream(ctx, "ORDERS")
	info, _ := s.Info(ctx)
	if info.State.Msgs != 6 {
		t.Errorf("ORDERS holds %d messages, want the 4 originals and 2 replays", info.State.Msgs)
	}
	for seq := uint64(5); seq <= 6; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil || !strings.HasPrefix(string(m.Data), "order-") || m.Header.Get("tenant") != "eu" || m.Header.Get("mq-replay-count") != "1" {
			t.Errorf("replay seq %d: %v %+v", seq, err, m)
		}
	}
	d, _ := js.Stream(ctx, "DEAD")
	if dinfo, _ := d.Info(ctx); dinfo.State.Msgs != 0 {
		t.Errorf("DEAD still holds %d advisories after the replay", dinfo.State.Msgs)
	}
}

// move: a Kafka DLQ into a RabbitMQ queue, across contexts.
func TestDLQMoveKafkaToRabbitMQ(t *testing.T) {
	k, cl := kafkaTopic(t, "pay.DLT", 1, nil)
	var recs []*kgo.Record
	for i := range 5 {
		recs = append(recs, &kgo.Record{Topic: "pay.DLT", Value: []byte("p" + strconv.Itoa(i)), Headers: springHeaders("pay", 0, int64(i), "declined")})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	u, ch := rabbitQueue(t, "pay.archive", nil)
	c := newCLI(t)
	if r := c.run("context", "add", "rabbit", "--url", u); r.code != 0 {
		t.Fatalf("context add: %+v", r)
	}
	r := c.run("dlq", "move", "pay.DLT", "--url", k.URL, "--to-context", "rabbit", "--to", "pay.archive", "--yes")
	if r.code != 0 || !strings.Contains(r.stderr, "moved 5") {
		t.Fatalf("move: %+v", r)
	}
	waitDepth(t, ch, "pay.archive", 5)
	d, _, _ := ch.Get("pay.archive", true)
	if string(d.Body) != "p0" || fmt.Sprint(d.Headers["kafka_dlt-exception-message"]) != "declined" {
		t.Errorf("moved %q headers %v", d.Body, d.Headers)
	}
}

// dlq peek on RabbitMQ: DIED is the x-death time, PUBLISHED the
// publisher's timestamp property, and the message id has its own column
// (it used to fill the AT column, as if it were a position).
func TestDLQPeekTimesRabbitMQ(t *testing.T) {
	u, ch := rabbitQueue(t, "work", amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "work.dlq"})
	if _, err := ch.QueueDeclare("work.dlq", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	published := time.Now().Add(-50 * time.Hour).Truncate(time.Second)
	for _, p := range []amqp.Publishing{
		{Body: []byte("stamped"), MessageId: "order-42", Timestamp: published},
		{Body: []byte("bare")},
	} {
		if err := ch.PublishWithContext(context.Background(), "", "work", false, false, p); err != nil {
			t.Fatal(err)
		}
	}
	waitDepth(t, ch, "work", 2)
	for range 2 {
		d, ok, err := ch.Get("work", false)
		if err != nil || !ok {
			t.Fatalf("get: %v %v", ok, err)
		}
		if err := d.Reject(false); err != nil {
			t.Fatal(err)
		}
	}
	waitDepth(t, ch, "work.dlq", 2)
	c := newCLI(t)
	r := c.run("dlq", "peek", "work.dlq", "--url", u, "-o", "json")
	var items []struct {
		Origin struct {
			LastDeath time.Time `json:"last_death"`
		} `json:"origin"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &items); err != nil || len(items) != 2 || items[0].Origin.LastDeath.IsZero() {
		t.Fatalf("peek -o json: %v %+v", err, r)
	}
	r = c.run("dlq", "peek", "work.dlq", "--url", u)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 3 {
		t.Fatalf("peek: %+v", r)
	}
	if want := "MESSAGE ID\tDIED\tPUBLISHED\tREASON\tCOUNT\tORIGINAL\tKEY\tVALUE"; lines[0] != want {
		t.Fatalf("header %q, want %q", lines[0], want)
	}
	// The death happened during this test, the publish 50 hours before.
	for i, want := range []string{`^order-42\t\d+[sm]\t2d\trejected\t1\twork\t-\tstamped$`, `^-\t\d+[sm]\t-\trejected\t1\twork\t-\tbare$`} {
		if !regexp.MustCompile(want).MatchString(lines[i+1]) {
			t.Errorf("row %q, want %s", lines[i+1], want)
		}
	}
}
