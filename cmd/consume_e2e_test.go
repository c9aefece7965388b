package cmd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/envelope"
	"github.com/mqctl/mqctl/internal/testenv"
)

// produceRecords writes n records "v<i>" with keys "k<i%7>" to topic.
func produceRecords(t *testing.T, cl *kgo.Client, topic string, n int) {
	t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte("k" + strconv.Itoa(i%7)), Value: []byte("v" + strconv.Itoa(i))}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// recordValues is the values produceRecords writes, in order.
func recordValues(n int) []string {
	vs := make([]string, n)
	for i := range vs {
		vs[i] = "v" + strconv.Itoa(i)
	}
	return vs
}

// position is where a consumed Kafka message was.
type position struct {
	partition int32
	offset    int64
}

// envelopes parses jsonl output; a torn last line (kill -9 mid-write) is
// ignored.
func envelopes(t *testing.T, out string) []envelope.Envelope {
	t.Helper()
	var es []envelope.Envelope
	lines := strings.Split(out, "\n")
	for i, line := range lines {
		if line == "" {
			continue
		}
		var e envelope.Envelope
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			if i == len(lines)-1 {
				break // torn by kill -9: never acked, so never committed
			}
			t.Fatalf("line %d is not an envelope: %q: %v", i, line, err)
		}
		es = append(es, e)
	}
	return es
}

func positions(t *testing.T, es []envelope.Envelope) map[position]bool {
	t.Helper()
	seen := map[position]bool{}
	for _, e := range es {
		if e.Partition == nil || e.Offset == nil {
			t.Fatalf("envelope without partition/offset: %+v", e)
		}
		seen[position{*e.Partition, *e.Offset}] = true
	}
	return seen
}

// committed returns the group's committed offset per partition of topic.
func committed(t *testing.T, cl *kgo.Client, group, topic string) map[int32]int64 {
	t.Helper()
	offs, err := kadm.NewClient(cl).FetchOffsets(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic {
			out[o.Partition] = o.At
		}
	})
	return out
}

// After -n stops a group consumer, each partition's commit is the last
// written offset + 1; a second run continues exactly there.
func TestConsumeKafkaGroupCommitsWhatWasWritten(t *testing.T) {
	k, cl := kafkaTopic(t, "orders", 3, nil)
	produceRecords(t, cl, "orders", 300)
	c := newCLI(t)
	r := c.run("consume", "orders", "--url", k.URL, "--group", "billing", "-n", "100", "-o", "jsonl")
	if r.code != 0 {
		t.Fatalf("consume: %+v", r)
	}
	first := envelopes(t, r.stdout)
	if len(first) != 100 || !strings.Contains(r.stderr, "read 100, output 100, acked 100") {
		t.Fatalf("first run wrote %d messages; stderr %q", len(first), r.stderr)
	}
	last := map[int32]int64{}
	for p := range positions(t, first) {
		last[p.partition] = max(last[p.partition], p.offset+1)
	}
	got := committed(t, cl, "billing", "orders")
	for p, want := range last {
		if got[p] != want {
			t.Errorf("partition %d: committed %d, want last written + 1 = %d", p, got[p], want)
		}
	}

	r = c.run("consume", "orders", "--url", k.URL, "--group", "billing", "--until-end", "-o", "jsonl")
	if r.code != 0 {
		t.Fatalf("second run: %+v", r)
	}
	second := envelopes(t, r.stdout)
	all := positions(t, first)
	for p := range positions(t, second) {
		if all[p] {
			t.Errorf("%v delivered twice after a clean stop", p)
		}
		all[p] = true
	}
	if len(all) != 300 {
		t.Errorf("saw %d distinct records of 300", len(all))
	}
	// Peeking with the group commits nothing: the commits stay as they were.
	before := committed(t, cl, "billing", "orders")
	r = c.run("consume", "orders", "--url", k.URL, "--group", "billing", "--ack", "none", "--from", "beginning", "-n", "5")
	if r.code != 0 || strings.Count(r.stdout, "\n") != 5 {
		t.Fatalf("peek: %+v", r)
	}
	if after := committed(t, cl, "billing", "orders"); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("peek changed the commits from %v to %v", before, after)
	}
}

// kill -9 in the middle of a group run never commits past what was
// written, and a second run delivers everything that was not.
func TestConsumeKafkaKill9LosesNothing(t *testing.T) {
	const n = 30000
	k, cl := kafkaTopic(t, "big", 3, nil)
	produceRecords(t, cl, "big", n)
	dir := t.TempDir()
	c := newCLI(t)
	for round := range 2 {
		outPath := filepath.Join(dir, fmt.Sprintf("run%d.jsonl", round))
		fh, err := os.Create(outPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd := c.command(context.Background(), "consume", "big", "--url", k.URL, "--group", "g", "-o", "jsonl")
		cmd.Stdout = fh
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill once a part of the topic was written.
		deadline := time.Now().Add(20 * time.Second)
		for {
			st, _ := fh.Stat()
			if st.Size() > int64(1000*(round+1))*60 || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		fh.Close()
	}
	seen := map[position]bool{}
	maxWritten := map[int32]int64{}
	for round := range 2 {
		b, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("run%d.jsonl", round)))
		for p := range positions(t, envelopes(t, string(b))) {
			seen[p] = true
			maxWritten[p.partition] = max(maxWritten[p.partition], p.offset+1)
		}
	}
	for p, off := range committed(t, cl, "g", "big") {
		if off > maxWritten[p] {
			t.Errorf("partition %d committed %d, but only offsets below %d were written", p, off, maxWritten[p])
		}
	}
	r := c.run("consume", "big", "--url", k.URL, "--group", "g", "--until-end", "-o", "jsonl")
	if r.code != 0 {
		t.Fatalf("final run: %s", r.stderr)
	}
	for p := range positions(t, envelopes(t, r.stdout)) {
		seen[p] = true
	}
	if len(seen) != n {
		t.Errorf("after two kill -9 and a final run, %d of %d records were seen", len(seen), n)
	}
}

// Binary keys and headers that kcat produced come back exactly in jsonl,
// and produce --format jsonl writes them back byte for byte.
func TestConsumeJSONLRoundTripsKcatRecords(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		if testenv.CI() {
			t.Fatal("kcat not installed: make test installs it")
		}
		t.Skip("kcat not installed")
	}
	k, cl := kafkaTopic(t, "src", 1, nil)
	kafkaTopic := "dst"
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1, nil, kafkaTopic); err != nil {
		t.Fatal(err)
	}
	key, value, hval := "k\xff\x01", "va\xfe\x80lue", "h\xc3\x28"
	kc := exec.Command("kcat", "-P", "-b", strings.Join(k.Addrs(), ","), "-t", "src", "-K", "\t", "-H", "bin="+hval, "-H", "bin=second", "-H", "text=plain")
	kc.Stdin = strings.NewReader(key + "\t" + value + "\n")
	if out, err := kc.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v %s", err, out)
	}
	c := newCLI(t)
	r := c.run("consume", "src", "--url", k.URL, "--until-end", "-o", "jsonl")
	if r.code != 0 {
		t.Fatalf("consume: %+v", r)
	}
	m, err := envelope.Decode([]byte(strings.TrimSpace(r.stdout)))
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Key) != key || string(m.Value) != value || len(m.Headers) != 3 || string(m.Headers[0].Value) != hval ||
		m.Headers[1].Key != "bin" || string(m.Headers[1].Value) != "second" || string(m.Headers[2].Value) != "plain" {
		t.Fatalf("decoded %+v from %s", m, r.stdout)
	}
	r = c.runIn([]byte(r.stdout), "produce", kafkaTopic, "--url", k.URL, "--format", "jsonl")
	if r.code != 0 {
		t.Fatalf("produce back: %+v", r)
	}
	rec := readTopic(t, k.Addrs(), kafkaTopic, 1)[0]
	if string(rec.Key) != key || string(rec.Value) != value || headerString(rec.Headers) != headerString([]kgo.RecordHeader{{Key: "bin", Value: []byte(hval)}, {Key: "bin", Value: []byte("second")}, {Key: "text", Value: []byte("plain")}}) {
		t.Errorf("round trip: key %q value %q headers %s", rec.Key, rec.Value, headerString(rec.Headers))
	}
}

// A handler that fails dead-letters to a Kafka DLT with mq-original-*
// headers; the source offsets are committed only after the DLT confirmed.
func TestConsumeKafkaExecDeadLetter(t *testing.T) {
	k, cl := kafkaTopic(t, "pay", 2, nil)
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1, nil, "pay.DLT"); err != nil {
		t.Fatal(err)
	}
	produceRecords(t, cl, "pay", 20)
	c := newCLI(t)
	// Values v0..v19: the handler fails on those ending in 3.
	r := c.run("consume", "pay", "--url", k.URL, "--group", "pg", "--until-end", "--exec", `v=$(cat); case "$v" in *3) echo "cannot pay $v" >&2; exit 4;; esac; echo "paid $v $MQ_PARTITION $MQ_OFFSET"`,
		"--retries", "1", "--backoff", "10ms", "--on-fail", "dead-letter=pay.DLT", "--concurrency", "2")
	if r.code != 3 || !strings.Contains(r.stderr, "handled 18") || !strings.Contains(r.stderr, "dead-lettered 2") {
		t.Fatalf("consume: code %d stderr %q", r.code, r.stderr)
	}
	if strings.Count(r.stdout, "paid ") != 18 {
		t.Errorf("handler output: %q", r.stdout)
	}
	dlt := readTopic(t, k.Addrs(), "pay.DLT", 2)
	for _, rec := range dlt {
		h := map[string]string{}
		for _, hd := range rec.Headers {
			h[hd.Key] = string(hd.Value)
		}
		if !strings.HasSuffix(string(rec.Value), "3") || h["mq-original-destination"] != "pay" || h["mq-original-offset"] == "" ||
			h["mq-death-reason"] != "exit status 4: cannot pay "+string(rec.Value) || h["mq-death-count"] != "2" {
			t.Errorf("dead letter %q headers %v", rec.Value, h)
		}
	}
	total := int64(0)
	for _, off := range committed(t, cl, "pg", "pay") {
		total += off
	}
	if total != 20 {
		t.Errorf("committed %d records of 20", total)
	}
}

// rabbitQueue declares a queue (with args) in a fresh vhost and returns
// the vhost's URL and a channel.
func rabbitQueue(t *testing.T, queue string, args amqp.Table) (string, *amqp.Channel) {
	t.Helper()
	rmq := testenv.RabbitMQ(t)
	vh := rmq.NewVHost(t)
	u := strings.TrimSuffix(rmq.AMQPURL, "/") + "/" + vh
	conn, err := amqp.Dial(u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, args); err != nil {
		t.Fatal(err)
	}
	return u, ch
}

func publishAMQP(t *testing.T, ch *amqp.Channel, queue string, values ...string) {
	t.Helper()
	for i, v := range values {
		err := ch.PublishWithContext(context.Background(), "", queue, false, false, amqp.Publishing{
			Body: []byte(v), MessageId: "id-" + strconv.Itoa(i), Headers: amqp.Table{"n": int32(i)}, DeliveryMode: amqp.Persistent})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func queueDepth(t *testing.T, ch *amqp.Channel, queue string) int {
	t.Helper()
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return q.Messages
}

// RabbitMQ: peeking leaves the queue as it was; a handler that fails
// rejects to the queue's DLX, where the message carries x-death.
func TestConsumeRabbitMQPeekAndReject(t *testing.T) {
	u, ch := rabbitQueue(t, "work", amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "work.dlq"})
	if _, err := ch.QueueDeclare("work.dlq", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	publishAMQP(t, ch, "work", "good-1", "bad-2", "good-3", "bad-4", "good-5")
	c := newCLI(t)
	c.env = []string{"MQCTL_URL=" + u}

	r := c.run("consume", "work", "--ack", "none", "-n", "3", "-o", "jsonl")
	if r.code != 0 || len(envelopes(t, r.stdout)) != 3 || !strings.Contains(r.stderr, "redelivered") {
		t.Fatalf("peek: %+v", r)
	}
	waitDepth(t, ch, "work", 5) // after the peek, all are back

	r = c.run("consume", "work", "--until-end", "--exec", `grep -q good`, "--on-fail", "reject")
	if r.code != 3 || !strings.Contains(r.stderr, "handled 3") || !strings.Contains(r.stderr, "rejected 2") {
		t.Fatalf("exec: code %d stderr %q", r.code, r.stderr)
	}
	if d := queueDepth(t, ch, "work"); d != 0 {
		t.Errorf("work still holds %d", d)
	}
	for _, want := range []string{"bad-2", "bad-4"} {
		d, ok, err := ch.Get("work.dlq", true)
		if err != nil || !ok || string(d.Body) != want {
			t.Fatalf("dlq: %q ok=%v err=%v, want %q", d.Body, ok, err, want)
		}
		deaths, _ := d.Headers["x-death"].([]any)
		if len(deaths) != 1 || fmt.Sprint(deaths[0].(amqp.Table)["reason"]) != "rejected" || fmt.Sprint(deaths[0].(amqp.Table)["queue"]) != "work" {
			t.Errorf("x-death = %v", d.Headers["x-death"])
		}
	}
}

// RabbitMQ: output mode acks exactly what was written; -o template works.
func TestConsumeRabbitMQAfterOutput(t *testing.T) {
	u, ch := rabbitQueue(t, "q", nil)
	publishAMQP(t, ch, "q", "a", "b", "c", "d")
	c := newCLI(t)
	c.env = []string{"MQCTL_URL=" + u}
	r := c.run("consume", "q", "-n", "2", "-o", `template={{.MessageID}} {{.Value}} n={{.Header "n"}}`)
	if r.code != 0 || r.stdout != "id-0 a n=0\nid-1 b n=1\n" {
		t.Fatalf("consume: %+v", r)
	}
	waitDepth(t, ch, "q", 2) // the 2 not consumed
	r = c.run("consume", "q", "--grep", "^d$", "--until-end")
	if r.code != 0 || r.stdout != "d\n" || !strings.Contains(r.stderr, "filtered out 1") {
		t.Fatalf("grep: %+v", r)
	}
	if d := queueDepth(t, ch, "q"); d != 0 {
		t.Errorf("filtered-out messages must be acked too; queue holds %d", d)
	}
	// A peek without -n ends when the prefetch is full instead of waiting
	// for deliveries that cannot come.
	more := make([]string, 12)
	for i := range more {
		more[i] = "p"
	}
	publishAMQP(t, ch, "q", more...)
	r = c.run("consume", "q", "--ack", "none", "--prefetch", "5")
	if r.code != 0 || strings.Count(r.stdout, "\n") != 5 || !strings.Contains(r.stderr, "the prefetch: stopping") {
		t.Fatalf("peek without -n: %+v", r)
	}
	r = c.run("consume", "q", "--until-end")
	if r.code != 0 || strings.Count(r.stdout, "\n") != 12 {
		t.Fatalf("drain the p messages: %+v", r)
	}
}

// JetStream: a handler failure with reject ends in +TERM, which the server
// announces with a MSG_TERMINATED advisory; the rest is acked.
func TestConsumeJetStreamTermAdvisory(t *testing.T) {
	srv, js, _ := natsStream(t, "JOBS", []string{"jobs.>"}, "jobs.a", 0)
	ctx := context.Background()
	for _, v := range []string{"ok-1", "fail-2", "ok-3"} {
		if _, err := js.Publish(ctx, "jobs.a", []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	nc, err := nats.Connect(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	adv, err := nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.JOBS.>")
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	c := newCLI(t)
	r := c.run("consume", "JOBS", "--url", srv.URL, "--consumer", "worker", "--until-end", "--exec", "grep -q ok", "--on-fail", "reject")
	if r.code != 3 || !strings.Contains(r.stderr, "handled 2") || !strings.Contains(r.stderr, "rejected 1") {
		t.Fatalf("consume: code %d stderr %q", r.code, r.stderr)
	}
	msg, err := adv.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("no MSG_TERMINATED advisory: %v", err)
	}
	var a struct {
		StreamSeq uint64 `json:"stream_seq"`
	}
	json.Unmarshal(msg.Data, &a)
	if a.StreamSeq != 2 {
		t.Errorf("advisory for stream seq %d, want 2: %s", a.StreamSeq, msg.Data)
	}
	cons, err := js.Consumer(ctx, "JOBS", "worker")
	if err != nil {
		t.Fatal(err)
	}
	info, _ := cons.Info(ctx)
	if info.NumAckPending != 0 || info.AckFloor.Stream != 3 {
		t.Errorf("consumer ack pending %d, ack floor %d", info.NumAckPending, info.AckFloor.Stream)
	}
	// Output mode from a sequence, peek: nothing acked.
	r = c.run("consume", "JOBS", "--url", srv.URL, "--from", "2", "--until-end", "--ack", "none", "-o", "template={{.StreamSeq}}:{{.Value}}")
	if r.code != 0 || r.stdout != "2:fail-2\n3:ok-3\n" {
		t.Fatalf("peek from 2: %+v", r)
	}
}

// Bad input is refused before anything is consumed.
func TestConsumeBadInput(t *testing.T) {
	u, ch := rabbitQueue(t, "keep", nil)
	publishAMQP(t, ch, "keep", "x")
	c := newCLI(t)
	c.env = []string{"MQCTL_URL=" + u}
	expectError(t, c.run("consume", "no-such-queue", "-n", "1"), 5, "no-such-queue")
	expectError(t, c.run("consume", "keep", "--exec", "no-such-handler-mqctl --x"), 2, "no-such-handler-mqctl")
	expectError(t, c.run("consume", "keep", "-o", "template={{.Value"), 2, "template")
	expectError(t, c.run("consume", "keep", "-o", "template={{.NoSuchField}}"), 2, "NoSuchField")
	expectError(t, c.run("consume", "keep", "--ack", "none", "--exec", "cat", "--on-fail", "reject"), 2, "--ack none")
	expectError(t, c.run("consume", "keep", "--ack", "sometimes"), 2, "--ack")
	expectError(t, c.run("consume", "keep", "--group", "g"), 2, "--group applies to kafka only")
	expectError(t, c.run("consume", "keep", "--retries", "3"), 2, "--exec")
	expectError(t, c.run("consume", "keep", "--exec", "cat", "--on-fail", "dead-letter=missing-dlq"), 5, "missing-dlq")
	if d := queueDepth(t, ch, "keep"); d != 1 {
		t.Errorf("bad input consumed messages: %d left of 1", d)
	}
	k, _ := kafkaTopic(t, "t", 1, nil)
	expectError(t, c.run("consume", "t", "--url", k.URL, "--exec", "cat", "--on-fail", "requeue"), 2, "kafka cannot requeue")
	expectError(t, c.run("consume", "missing-topic", "--url", k.URL, "-n", "1"), 5, "missing-topic")
}

// `| head` closes stdout: the run ends cleanly and acks only what was written.
func TestConsumeClosedStdout(t *testing.T) {
	u, ch := rabbitQueue(t, "pipe", nil)
	vals := make([]string, 500)
	for i := range vals {
		vals[i] = strings.Repeat("x", 1000)
	}
	publishAMQP(t, ch, "pipe", vals...)
	cmd := exec.Command("bash", "-c", fmt.Sprintf("%s consume pipe --idle-timeout 3s | head -c 10 >/dev/null; exit ${PIPESTATUS[0]}", mqctlBin))
	cmd.Env = append(cleanEnv(), "MQCTL_URL="+u, "MQCTL_CONFIG="+filepath.Join(t.TempDir(), "c.yaml"))
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, errb.String())
	}
	if !strings.Contains(errb.String(), "stdout closed") {
		t.Errorf("stderr: %q", errb.String())
	}
	time.Sleep(300 * time.Millisecond)
	// What went into the pipe before head left was acked; what mqctl
	// could not write is back in the queue.
	if d := queueDepth(t, ch, "pipe"); d == 0 {
		t.Errorf("after a closed pipe the queue is empty: the unwritten messages were acked")
	}
}

// Ctrl-C stops reading, commits exactly what was written and exits 130.
func TestConsumeKafkaInterruptCommitsWhatWasWritten(t *testing.T) {
	k, cl := kafkaTopic(t, "ints", 2, nil)
	produceRecords(t, cl, "ints", 200)
	outPath := filepath.Join(t.TempDir(), "out.jsonl")
	fh, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	// A slow handler keeps the run in the middle of the topic when the
	// interrupt comes.
	cmd := newCLI(t).command(context.Background(), "consume", "ints", "--url", k.URL, "--group", "ig", "--exec", "cat; echo; sleep 0.02")
	cmd.Stdout = fh
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(outPath)
		if strings.Count(string(b), "\n") >= 20 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	err = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit %d (%v), want 130; stderr %q", code, err, errb.String())
	}
	b, _ := os.ReadFile(outPath)
	handled := strings.Count(string(b), "\n")
	total := int64(0)
	for _, off := range committed(t, cl, "ig", "ints") {
		total += off
	}
	if total != int64(handled) || handled == 0 || handled == 200 {
		t.Errorf("handled %d records, committed %d: a clean interrupt commits exactly what was handled (stderr %q)", handled, total, errb.String())
	}
}

// RabbitMQ: kill -9 mid-stream loses nothing; the unacked deliveries come
// back, marked redelivered, to the next run.
func TestConsumeRabbitMQKill9LosesNothing(t *testing.T) {
	const n = 2000
	u, ch := rabbitQueue(t, "k9", nil)
	vals := make([]string, n)
	for i := range vals {
		vals[i] = "m" + strconv.Itoa(i)
	}
	publishAMQP(t, ch, "k9", vals...)
	outPath := filepath.Join(t.TempDir(), "first.jsonl")
	fh, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	c := newCLI(t)
	c.env = []string{"MQCTL_URL=" + u}
	cmd := c.command(context.Background(), "consume", "k9", "-o", "jsonl")
	cmd.Stdout = fh
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, _ := fh.Stat()
		if st.Size() > 20000 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	fh.Close()
	waitConsumersGone(t, ch, "k9")
	seen := map[string]bool{}
	b, _ := os.ReadFile(outPath)
	for _, e := range envelopes(t, string(b)) {
		seen[*e.Value] = true
	}
	r := c.run("consume", "k9", "--until-end", "-o", "jsonl")
	if r.code != 0 {
		t.Fatalf("second run: %+v", r)
	}
	second := envelopes(t, r.stdout)
	if len(second) == 0 {
		t.Fatal("the first run was not killed mid-stream: nothing was left for the second")
	}
	for _, e := range second {
		seen[*e.Value] = true
	}
	if len(seen) != n {
		t.Errorf("after kill -9 and a second run %d of %d messages were seen", len(seen), n)
	}
	waitDepth(t, ch, "k9", 0)
}

// A new user's first --exec on Kafka: the default --on-fail stop ends the
// run at the first failure (the handler runs once), exits 3, and the
// summary counts each record read once: handled 0, the failed one as
// failed, the others not committed (Kafka cannot requeue), nothing
// "output", and without a group no acks: nothing is committed. A run
// that ends at once (an empty topic with --until-end) warns of nothing.
func TestConsumeKafkaExecStop(t *testing.T) {
	k, cl := kafkaTopic(t, "orders", 1, nil)
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1, nil, "empty"); err != nil {
		t.Fatal(err)
	}
	produceRecords(t, cl, "orders", 5)
	c := newCLI(t)
	for _, group := range []string{"", "billing"} {
		ran := filepath.Join(t.TempDir(), "ran")
		args := []string{"consume", "orders", "--url", k.URL, "--until-end", "--exec", `echo "$MQ_OFFSET" >>` + ran + `; exit 1`}
		if group != "" {
			args = append(args, "--group", group)
		}
		r := c.run(args...)
		b, _ := os.ReadFile(ran)
		if r.code != 3 || string(b) != "0\n" {
			t.Errorf("group %q: exit %d, the handler ran for offsets %q; want exit 3 and offset 0 alone\n%s", group, r.code, b, r.stderr)
		}
		// The failed record counts once, as failed; the 4 others were
		// not started. Without a group nothing is committed at all.
		want := `read (\d), handled 0, acked 0, not committed (\d), failed 1 \(not committed 1\) in `
		if group == "" {
			want = `read (\d), handled 0, nothing committed \(no --group\), not handled (\d), failed 1 in `
		}
		m := regexp.MustCompile(want).FindStringSubmatch(r.stderr)
		if m == nil || m[1][0] != m[2][0]+1 {
			t.Errorf("group %q: stderr\n%s\nwant a summary matching %q, the records read 1 more than those not started", group, r.stderr, want)
		}
	}
	if got := testenv.CommittedOffsets(t, kadm.NewClient(cl), "billing", "orders"); got[0] > 0 {
		t.Errorf("group billing committed %v; want nothing, offset 0 failed", got)
	}
	r := c.run("consume", "empty", "--url", k.URL, "--until-end")
	if r.code != 0 || !strings.HasPrefix(r.stderr, "mqctl: read 0, output 0, nothing committed (no --group) in ") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("empty topic: exit %d, stderr %q; want the summary alone", r.code, r.stderr)
	}
}
