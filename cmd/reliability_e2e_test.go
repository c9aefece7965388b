package cmd_test

// The reliability suite (issue 15, faults): each TestReliability... test is
// one or more scenarios run reliability.Runs times, each run counting the
// messages that had to survive, those lost (a test failure) and those
// duplicated. `make reliability` runs them 20 times and renders
// RELIABILITY.md; `make test` runs them once.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mqctl/mqctl/internal/envelope"
	"github.com/mqctl/mqctl/internal/reliability"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// between is a random duration in [lo, hi).
func between(lo, hi time.Duration) time.Duration {
	return lo + rand.N(hi-lo)
}

// killAfter starts cmd and kill -9s it after d; it reports whether the
// kill landed while cmd was still running.
func killAfter(t *testing.T, cmd *exec.Cmd, d time.Duration) bool {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
		return false
	case <-time.After(d):
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
	return true
}

// killWhen starts cmd, waits until started says the work began (polled
// every 5 ms, for at most 30 s), waits a random extra in [0, extra) and
// kill -9s it; it reports whether the kill landed while cmd was still
// running. Killing at a moment measured from the start would land before
// the first message on some runs and after the last on others, as start-up
// time varies with the machine's load.
func killWhen(t *testing.T, cmd *exec.Cmd, started func() bool, extra time.Duration) bool {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	for deadline := time.Now().Add(30 * time.Second); !started() && time.Now().Before(deadline); {
		select {
		case <-done:
			return false
		case <-time.After(5 * time.Millisecond):
		}
	}
	select {
	case <-done:
		return false
	case <-time.After(rand.N(extra)):
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
	return true
}

// fileHasData reports whether the file at path is not empty.
func fileHasData(path string) func() bool {
	return func() bool {
		st, err := os.Stat(path)
		return err == nil && st.Size() > 0
	}
}

// inputLines writes n lines "<prefix>-<i>" to a file and returns its path
// and the lines.
func inputLines(t *testing.T, prefix string, n int) (string, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), prefix+".txt")
	lines := make([]string, n)
	var b strings.Builder
	for i := range lines {
		lines[i] = fmt.Sprintf("%s-%d", prefix, i)
		b.WriteString(lines[i])
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, lines
}

// lostAndDuplicated compares what had to survive with what was found:
// lost are the wanted values found nowhere, duplicated the extra copies of
// wanted values.
func lostAndDuplicated(want, found []string) (lost, dup int, missing []string) {
	count := make(map[string]int, len(found))
	for _, v := range found {
		count[v]++
	}
	for _, v := range want {
		switch c := count[v]; {
		case c == 0:
			lost++
			if len(missing) < 5 {
				missing = append(missing, v)
			}
		case c > 1:
			dup += c - 1
		}
	}
	return lost, dup, missing
}

// record adds a run to s and names a few of the lost values.
func record(t *testing.T, s *reliability.Tally, want, found []string) {
	t.Helper()
	lost, dup, missing := lostAndDuplicated(want, found)
	if lost > 0 {
		t.Logf("lost, for example: %v", missing)
	}
	s.Run(len(want), lost, dup)
}

// kafkaValues reads every record of topic with its own client and returns
// the values.
func kafkaValues(t *testing.T, seeds []string, topic string) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	total := kafkaCount(t, kadm.NewClient(cl), topic)
	cl.Close()
	if total == 0 {
		return nil
	}
	var out []string
	for _, rec := range readTopic(t, seeds, topic, total) {
		out = append(out, string(rec.Value))
	}
	return out
}

// kafkaCount is how many records topic holds.
func kafkaCount(t *testing.T, adm *kadm.Client, topic string) int {
	t.Helper()
	ends, err := adm.ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	ends.Each(func(o kadm.ListedOffset) { total += int(o.Offset) })
	return total
}

// streamCount is how many messages a JetStream stream holds.
func streamCount(t *testing.T, js jetstream.JetStream, stream string) int {
	t.Helper()
	s, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return int(info.State.Msgs)
}

// streamValues reads every message of a JetStream stream with an ordered
// consumer and returns the values.
func streamValues(t *testing.T, js jetstream.JetStream, stream string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := int(info.State.Msgs)
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for len(out) < n {
		batch, err := c.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			out = append(out, string(m.Data()))
		}
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d messages of %s", len(out), n, stream)
		}
	}
	return out
}

// jsonlValues reads the values of the envelopes in the jsonl files; a
// torn last line (kill -9 mid-write) is left out: it was never acked.
func jsonlValues(t *testing.T, paths ...string) []string {
	t.Helper()
	var out []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, e := range envelopes(t, string(b)) {
			if e.Value != nil {
				out = append(out, *e.Value)
			}
		}
	}
	return out
}

// failedValues reads the values of a --failed-out file (absent: none).
func failedValues(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e envelope.Envelope
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("failed-out line %q: %v", sc.Text(), err)
		}
		if e.Value != nil {
			out = append(out, *e.Value)
		}
	}
	return out
}

// toFile runs cmd with stdout to a new file at path and returns the file,
// for the caller to close after the run.
func toFile(t *testing.T, cmd *exec.Cmd, path string) *os.File {
	t.Helper()
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = fh
	return fh
}

// kill -9 of produce at a random moment, then the same input again to the
// end: every line is in the broker (a killed run writes no --failed-out,
// so the rerun is how an operator recovers); lines sent by both runs are
// duplicates.
func TestReliabilityProduceKill9(t *testing.T) {
	runs := reliability.Runs(t)
	t.Run("kafka", func(t *testing.T) {
		t.Parallel()
		s := reliability.Start(t, "kill -9 of `produce`, Kafka (4 partitions)")
		const n = 300000
		k, cl := kafkaTopic(t, "rel-setup", 1, nil)
		adm := kadm.NewClient(cl)
		c := newCLI(t)
		for run := range runs {
			topic := fmt.Sprintf("rel-produce-%d", run)
			if _, err := adm.CreateTopic(context.Background(), 4, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
			in, lines := inputLines(t, topic, n)
			started := func() bool { return kafkaCount(t, adm, topic) > 0 }
			if killWhen(t, c.command(context.Background(), "produce", topic, "--url", k.URL, "--file", in), started, 300*time.Millisecond) {
				s.Count("killed mid-run")
			}
			if stored := kafkaCount(t, adm, topic); stored > 0 && stored < n {
				s.Count("killed with part of the input stored")
			}
			if r := c.run("produce", topic, "--url", k.URL, "--file", in); r.code != 0 {
				t.Fatalf("rerun after the kill: %+v", r)
			}
			record(t, s, lines, kafkaValues(t, k.Addrs(), topic))
		}
		s.Note("%d lines per run, killed 0-300 ms after the first record was stored", n)
	})
	t.Run("jetstream", func(t *testing.T) {
		t.Parallel()
		s := reliability.Start(t, "kill -9 of `produce`, JetStream (file storage)")
		const n = 20000
		srv, js := natsJetStream(t)
		c := newCLI(t)
		for run := range runs {
			stream := fmt.Sprintf("RELP%d", run)
			subject := fmt.Sprintf("relp%d.x", run)
			if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: stream, Subjects: []string{subject}, Storage: jetstream.FileStorage}); err != nil {
				t.Fatal(err)
			}
			in, lines := inputLines(t, stream, n)
			started := func() bool { return streamCount(t, js, stream) > 0 }
			if killWhen(t, c.command(context.Background(), "produce", subject, "--url", srv.URL, "--file", in), started, 300*time.Millisecond) {
				s.Count("killed mid-run")
			}
			if stored := streamCount(t, js, stream); stored > 0 && stored < n {
				s.Count("killed with part of the input stored")
			}
			if r := c.run("produce", subject, "--url", srv.URL, "--file", in); r.code != 0 {
				t.Fatalf("rerun after the kill: %+v", r)
			}
			record(t, s, lines, streamValues(t, js, stream))
		}
		s.Note("%d lines per run, killed 0-300 ms after the first message was stored; no --msg-id, so the rerun's copies are not de-duplicated", n)
	})
}

// kill -9 of a consumer that writes -o jsonl to a file, at a random
// moment, then a second run: the two files together hold every message.
func TestReliabilityConsumeKill9(t *testing.T) {
	runs := reliability.Runs(t)
	t.Run("kafka group", func(t *testing.T) {
		t.Parallel()
		s := reliability.Start(t, "kill -9 of `consume --group`, Kafka (3 partitions)")
		const n = 100000
		k, cl := kafkaTopic(t, "rel-setup", 1, nil)
		adm := kadm.NewClient(cl)
		c := newCLI(t)
		dir := t.TempDir()
		for run := range runs {
			topic := fmt.Sprintf("rel-consume-%d", run)
			if _, err := adm.CreateTopic(context.Background(), 3, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
			produceRecords(t, cl, topic, n)
			want := recordValues(n)
			first, second := filepath.Join(dir, topic+"-1.jsonl"), filepath.Join(dir, topic+"-2.jsonl")
			cmd := c.command(context.Background(), "consume", topic, "--url", k.URL, "--group", "g", "-o", "jsonl")
			fh := toFile(t, cmd, first)
			if killWhen(t, cmd, fileHasData(first), 1500*time.Millisecond) {
				s.Count("killed mid-run")
			}
			fh.Close()
			if got := len(jsonlValues(t, first)); got > 0 && got < n {
				s.Count("killed with part of the topic written")
			}
			cmd = c.command(context.Background(), "consume", topic, "--url", k.URL, "--group", "g", "--until-end", "-o", "jsonl")
			if code, _ := runWithFault(t, cmd, second, 0, nil); code != 0 {
				t.Fatalf("second run: exit %d", code)
			}
			record(t, s, want, jsonlValues(t, first, second))
		}
		s.Note("%d records per run, killed 0-1.5 s after the first output; second run --until-end; commits go out every second, so up to a second of output comes again", n)
	})
	t.Run("jetstream durable", func(t *testing.T) {
		t.Parallel()
		s := reliability.Start(t, "kill -9 of `consume --consumer` (durable), JetStream")
		const n = 20000
		srv, js := natsJetStream(t)
		c := newCLI(t)
		dir := t.TempDir()
		for run := range runs {
			stream := fmt.Sprintf("RELC%d", run)
			subject := fmt.Sprintf("relc%d.x", run)
			want := jsStreamWith(t, js, stream, subject, n)
			first, second := filepath.Join(dir, stream+"-1.jsonl"), filepath.Join(dir, stream+"-2.jsonl")
			cmd := c.command(context.Background(), "consume", stream, "--url", srv.URL, "--consumer", "dur", "-o", "jsonl")
			fh := toFile(t, cmd, first)
			if killWhen(t, cmd, fileHasData(first), 1000*time.Millisecond) {
				s.Count("killed mid-run")
			}
			fh.Close()
			if got := len(jsonlValues(t, first)); got > 0 && got < n {
				s.Count("killed with part of the stream written")
			}
			// The killed run's unacked deliveries come again after the
			// durable's ack wait (2 s): the second run waits for them.
			cmd = c.command(context.Background(), "consume", stream, "--url", srv.URL, "--consumer", "dur", "--idle-timeout", "4s", "-o", "jsonl")
			if code, _ := runWithFault(t, cmd, second, 0, nil); code != 0 {
				t.Fatalf("second run: exit %d", code)
			}
			record(t, s, want, jsonlValues(t, first, second))
		}
		s.Note("%d messages per run, killed 0-1 s after the first output; durable with ack wait 2 s, second run --idle-timeout 4s", n)
	})
}

// jsStreamWith creates a file-storage stream on subject holding n
// messages "<stream>-<i>" and a durable pull consumer "dur" with a 2 s ack
// wait, and returns the values.
func jsStreamWith(t *testing.T, js jetstream.JetStream, stream, subject string, n int) []string {
	t.Helper()
	ctx := context.Background()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{subject}, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	return fillDurable(t, js, st, stream, subject, n)
}

// fillDurable publishes n messages "<stream>-<i>" to subject, captured by
// st, and adds the durable pull consumer "dur" (ack wait 2 s); it returns
// the values.
func fillDurable(t *testing.T, js jetstream.JetStream, st jetstream.Stream, stream, subject string, n int) []string {
	t.Helper()
	ctx := context.Background()
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("%s-%d", stream, i)
		if _, err := js.PublishAsync(subject, []byte(want[i])); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 999 || i == n-1 {
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(30 * time.Second):
				t.Fatal("publishing the stream's messages took over 30 s")
			}
		}
	}
	if _, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "dur", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	return want
}

// kill -9 of dlq replay at a random moment, then a rerun to the end:
// every dead letter reached the target (or is still in its DLQ, which the
// rerun empties).
func TestReliabilityDLQReplayKill9(t *testing.T) {
	runs := reliability.Runs(t)
	t.Run("kafka", func(t *testing.T) {
		t.Parallel()
		s := reliability.Start(t, "kill -9 of `dlq replay`, Kafka .DLT to its topic")
		const n = 30000
		k, cl := kafkaTopic(t, "rel-setup", 1, nil)
		adm := kadm.NewClient(cl)
		c := newCLI(t)
		for run := range runs {
			topic := fmt.Sprintf("rel-jobs-%d", run)
			dlt := topic + ".DLT"
			for _, name := range []string{topic, dlt} {
				if _, err := adm.CreateTopic(context.Background(), 2, 1, nil, name); err != nil {
					t.Fatal(err)
				}
			}
			want := make([]string, n)
			recs := make([]*kgo.Record, n)
			for i := range recs {
				want[i] = fmt.Sprintf("%s-%d", dlt, i)
				recs[i] = &kgo.Record{Topic: dlt, Value: []byte(want[i]), Headers: springHeaders(topic, int32(i%2), int64(i), "boom")}
			}
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			started := func() bool { return kafkaCount(t, adm, topic) > 0 }
			if killWhen(t, c.command(context.Background(), "dlq", "replay", dlt, "--url", k.URL, "--yes"), started, 200*time.Millisecond) {
				s.Count("killed mid-run")
			}
			if got := kafkaCount(t, adm, topic); got > 0 && got < n {
				s.Count("killed with part replayed")
			}
			// Nothing may be lost even before the rerun: each dead letter
			// is in the target or not yet committed in the DLT.
			left := map[int32]int64{}
			for p, off := range committed(t, cl, "mqctl-dlq", dlt) {
				left[p] = off
			}
			var found []string
			for _, rec := range readTopic(t, k.Addrs(), dlt, n) {
				if rec.Offset >= left[rec.Partition] {
					found = append(found, string(rec.Value))
				}
			}
			found = append(found, kafkaValues(t, k.Addrs(), topic)...)
			if lost, _, missing := lostAndDuplicated(want, found); lost > 0 {
				t.Errorf("run %d: after the kill %d dead letters are neither in %s nor uncommitted in %s, e.g. %v", run, lost, topic, dlt, missing)
			}
			// A rerun started while the killed member still holds the
			// partitions (its 10 s session) stops after 10 s without a
			// dead letter, replaying nothing: wait for the group to empty.
			waitGroupEmpty(t, adm, "mqctl-dlq")
			if r := c.run("dlq", "replay", dlt, "--url", k.URL, "--yes"); r.code != 0 || !strings.Contains(r.stderr, "failed 0") {
				t.Fatalf("rerun: %+v", r)
			}
			record(t, s, want, kafkaValues(t, k.Addrs(), topic))
		}
		s.Note("%d dead letters (Spring headers) per run, killed 0-200 ms after the first replayed record was stored; checked after the kill (target + uncommitted DLT) and after a rerun once the killed member left the group", n)
	})
	t.Run("rabbitmq", func(t *testing.T) {
		t.Parallel()
		s := reliability.Start(t, "kill -9 of `dlq replay`, RabbitMQ DLQ to its queue")
		const n = 1000
		for run := range runs {
			u, ch := rabbitQueue(t, "work", amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "work.dlq"})
			if _, err := ch.QueueDeclare("work.dlq", true, false, false, false, nil); err != nil {
				t.Fatal(err)
			}
			want := make([]string, n)
			for i := range want {
				want[i] = fmt.Sprintf("w%d-%d", run, i)
			}
			deadLetterAMQP(t, ch, "work", want...)
			waitDepth(t, ch, "work.dlq", n)
			c := newCLI(t)
			c.env = []string{"MQCTL_URL=" + u}
			if killAfter(t, c.command(context.Background(), "dlq", "replay", "work.dlq", "--yes", "--rate", "1000"), between(100*time.Millisecond, 1200*time.Millisecond)) {
				s.Count("killed mid-run")
			}
			waitConsumersGone(t, ch, "work.dlq")
			if got := queueDepth(t, ch, "work"); got > 0 && got < n {
				s.Count("killed with part replayed")
			}
			if r := c.run("dlq", "replay", "work.dlq", "--yes"); r.code != 0 {
				t.Fatalf("rerun: %+v", r)
			}
			waitDepth(t, ch, "work.dlq", 0)
			record(t, s, want, drainAMQP(t, ch, "work"))
		}
		s.Note("%d dead letters (x-death) per run, replay --rate 1000 killed after 0.1-1.2 s", n)
	})
}

// waitGroupEmpty waits until group has no members: a member killed with
// -9 stays until its session times out.
func waitGroupEmpty(t *testing.T, adm *kadm.Client, group string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		gs, err := adm.DescribeGroups(context.Background(), group)
		if err != nil {
			t.Fatal(err)
		}
		if g, ok := gs[group]; ok && g.Err == nil && len(g.Members) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s still has members 30 s after the kill", group)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// publishConfirmed publishes values to queue persistent and waits for the
// broker's confirms: a loaded node may take longer than waitDepth's 10 s
// to show unconfirmed messages in the queue's depth.
func publishConfirmed(t *testing.T, ch *amqp.Channel, queue string, values []string) {
	t.Helper()
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	var pending []*amqp.DeferredConfirmation
	wait := func() {
		for _, c := range pending {
			if !c.Wait() {
				t.Fatalf("the broker nacked a message published to %s", queue)
			}
		}
		pending = pending[:0]
	}
	for _, v := range values {
		c, err := ch.PublishWithDeferredConfirm("", queue, false, false, amqp.Publishing{Body: []byte(v), DeliveryMode: amqp.Persistent})
		if err != nil {
			t.Fatal(err)
		}
		if pending = append(pending, c); len(pending) == 1000 {
			wait()
		}
	}
	wait()
}

// drainAMQP gets every message of queue (auto-ack) and returns the bodies.
func drainAMQP(t *testing.T, ch *amqp.Channel, queue string) []string {
	t.Helper()
	var out []string
	for {
		d, ok, err := ch.Get(queue, true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		out = append(out, string(d.Body))
	}
}

// faultPlan decides, per request, whether to answer it with an error
// code (one of codes): a fraction of the requests after the first skip,
// at most limit times (0: no limit).
type faultPlan struct {
	fraction float64
	codes    []int16
	skip     int64
	limit    int64
	seen     atomic.Int64
	// injected counts the requests answered with an error.
	injected atomic.Int64
}

// reset starts the plan again, skipping skip requests; it returns how many
// requests it had answered with an error.
func (p *faultPlan) reset(skip int64) int64 {
	p.skip = skip
	p.seen.Store(0)
	return p.injected.Swap(0)
}

func (p *faultPlan) choose() (int16, bool) {
	if p.seen.Add(1) <= p.skip || rand.Float64() >= p.fraction {
		return 0, false
	}
	n := p.injected.Add(1)
	if p.limit > 0 && n > p.limit {
		p.injected.Add(-1)
		return 0, false
	}
	return p.codes[rand.N(len(p.codes))], true
}

// kfakeFaults answers requests of key with the errors plans choose while
// on is set; build makes the error response for a request.
func kfakeFaults(k *sandbox.Kafka, key kmsg.Key, on *atomic.Bool, build func(kmsg.Request, int16) kmsg.Response, plans ...*faultPlan) {
	k.Cluster().ControlKey(int16(key), func(req kmsg.Request) (kmsg.Response, error, bool) {
		k.Cluster().KeepControl()
		if !on.Load() {
			return nil, nil, false
		}
		for _, p := range plans {
			if code, ok := p.choose(); ok {
				return build(req, code), nil, true
			}
		}
		return nil, nil, false
	})
}

// fetchError answers every partition of a Fetch with code.
func fetchError(req kmsg.Request, code int16) kmsg.Response {
	fr := req.(*kmsg.FetchRequest)
	resp := fr.ResponseKind().(*kmsg.FetchResponse)
	resp.SessionID = 0
	for _, tp := range fr.Topics {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic, rt.TopicID = tp.Topic, tp.TopicID
		for _, p := range tp.Partitions {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = code
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// Kafka error codes the faults use.
const (
	kNotLeader           = 6
	kRequestTimedOut     = 7
	kCoordinatorNotAvail = 15
)

// kfake answers a fraction of the requests with retriable errors, or
// closes the connection a few requests came on: every produced line is in
// the topic or in --failed-out (and a resend of --failed-out completes the
// topic); a group consumer's commits never go past what it wrote, so a
// second run fills every gap.
func TestReliabilityKafkaInjectedErrors(t *testing.T) {
	runs := reliability.Runs(t)
	t.Run("produce", func(t *testing.T) {
		t.Parallel()
		s := reliability.Start(t, "kfake: Produce requests answered REQUEST_TIMED_OUT or NOT_LEADER_FOR_PARTITION, `produce`")
		n := reliability.Messages(20000)
		k, cl := kafkaTopic(t, "rel-setup", 1, nil)
		adm := kadm.NewClient(cl)
		var on atomic.Bool
		// A retriable error holds the partition until the client's next
		// metadata refresh (at least MetadataMinAge, 0.5 s, apart), so
		// a run gets one of each, at a random request.
		notLeader := &faultPlan{fraction: 1, codes: []int16{kNotLeader}, limit: 1}
		timedOut := &faultPlan{fraction: 1, codes: []int16{kRequestTimedOut}, limit: 1}
		kfakeFaults(k, kmsg.Produce, &on, testenv.KafkaProduceError, notLeader, timedOut)
		var faults int64
		c := newCLI(t)
		dir := t.TempDir()
		for run := range runs {
			faults += notLeader.reset(rand.N[int64](40)) + timedOut.reset(rand.N[int64](40))
			faultyProduce(t, s, c, k, adm, &on, fmt.Sprintf("rel-faulty-%d", run), n, dir, func() int64 {
				return notLeader.injected.Load() + timedOut.injected.Load()
			})
		}
		faults += notLeader.injected.Load() + timedOut.injected.Load()
		s.Note("%d lines per run, --in-flight 100; one Produce request answered NOT_LEADER_FOR_PARTITION and one REQUEST_TIMED_OUT at random among the first 40 of a run (%d in all): franz-go waits for a metadata refresh (at least 0.5 s apart, mqctl's MetadataMinAge) after each, so a fraction of all requests would stall a run for a long time", n, faults)
	})
	t.Run("produce, connections dropped", func(t *testing.T) {
		t.Parallel()
		s := reliability.Start(t, "kfake: connections closed on Produce requests, `produce`")
		const n, drops, among = 10000, 3, 30
		k, cl := kafkaTopic(t, "rel-setup", 1, nil)
		adm := kadm.NewClient(cl)
		var on atomic.Bool
		produces := &dropPlan{}
		kfakeDrops(k, kmsg.Produce, &on, produces)
		var dropped int64
		c := newCLI(t)
		dir := t.TempDir()
		for run := range runs {
			dropped += produces.reset(somePositions(drops, among)...)
			faultyProduce(t, s, c, k, adm, &on, fmt.Sprintf("rel-dropped-%d", run), n, dir, produces.dropped.Load)
		}
		dropped += produces.dropped.Load()
		s.Note("%d lines per run, --in-flight 100; kfake closes the connection of %d Produce requests picked at random among the first %d of a run, before it appends them (%d of %d requests closed in all); franz-go resends their batches, but when the dropped request was the first on a new connection it waits for a metadata refresh first (at least 0.5 s after the last one, mqctl's MetadataMinAge)", n, drops, among, dropped, produces.requests.Load())
	})
	t.Run("consume group", func(t *testing.T) {
		t.Parallel()
		s := reliability.Start(t, "kfake: OffsetCommit answered COORDINATOR_NOT_AVAILABLE, Fetch NOT_LEADER_FOR_PARTITION, `consume --group`")
		n := reliability.Messages(100000)
		k, cl := kafkaTopic(t, "rel-setup", 1, nil)
		adm := kadm.NewClient(cl)
		var on atomic.Bool
		// The first commit and the first two fetches of every run fail,
		// and then a fraction: a run reads 100000 records in about a
		// second, so it makes only a few requests of each.
		firstCommit := &faultPlan{fraction: 1, codes: []int16{kCoordinatorNotAvail}, limit: 1}
		commits := &faultPlan{fraction: 0.5, codes: []int16{kCoordinatorNotAvail}}
		firstFetches := &faultPlan{fraction: 1, codes: []int16{kNotLeader}, limit: 2}
		fetches := &faultPlan{fraction: 0.2, codes: []int16{kNotLeader}}
		kfakeFaults(k, kmsg.OffsetCommit, &on, testenv.KafkaCommitError, firstCommit, commits)
		kfakeFaults(k, kmsg.Fetch, &on, fetchError, firstFetches, fetches)
		var commitFaults, fetchFaults int64
		c := newCLI(t)
		dir := t.TempDir()
		for run := range runs {
			commitFaults += firstCommit.reset(0)
			fetchFaults += firstFetches.reset(0)
			faultyConsume(t, s, c, k, cl, adm, &on, fmt.Sprintf("rel-cfaulty-%d", run), n, dir)
		}
		commitFaults += firstCommit.injected.Load() + commits.injected.Load()
		fetchFaults += firstFetches.injected.Load() + fetches.injected.Load()
		s.Note("%d records per run; the first commit and the first 2 fetches of a run fail, then 50%% of commits and 20%% of fetches (%d commits, %d fetches in all); first run --until-end under faults, second run without", n, commitFaults, fetchFaults)
	})
	t.Run("consume group, connections dropped", func(t *testing.T) {
		t.Parallel()
		s := reliability.Start(t, "kfake: connections closed on Fetch and OffsetCommit requests, `consume --group`")
		n := reliability.Messages(50000)
		k, cl := kafkaTopic(t, "rel-setup", 1, nil)
		adm := kadm.NewClient(cl)
		var on atomic.Bool
		fetches, commits := &dropPlan{}, &dropPlan{}
		kfakeDrops(k, kmsg.Fetch, &on, fetches)
		kfakeDrops(k, kmsg.OffsetCommit, &on, commits)
		var fetchDropped, commitDropped int64
		c := newCLI(t)
		dir := t.TempDir()
		for run := range runs {
			// A run reads the topic in 2 or 3 fetches and commits once,
			// at the end (more when it takes over a second): the first
			// fetch is dropped and one of the next two, the first commit
			// and, every other run, its retry too.
			fetchDropped += fetches.reset(1, 1+somePositions(1, 2)[0])
			commitDropped += commits.reset(somePositions(1+run%2, 1+run%2)...)
			faultyConsume(t, s, c, k, cl, adm, &on, fmt.Sprintf("rel-cdropped-%d", run), n, dir)
			if fetches.dropped.Load() == 0 || commits.dropped.Load() == 0 {
				t.Fatalf("run %d: %d fetches and %d commits dropped, want both", run, fetches.dropped.Load(), commits.dropped.Load())
			}
		}
		fetchDropped += fetches.dropped.Load()
		commitDropped += commits.dropped.Load()
		s.Note("%d records per run; kfake closes the connection of the first Fetch request of a run and of one of the next two, and of its first OffsetCommit (every other run its second too) (%d of %d fetches, %d of %d commits closed in all); first run --until-end under drops, second run without", n, fetchDropped, fetches.requests.Load(), commitDropped, commits.requests.Load())
	})
}

// faultyProduce is one run of a produce scenario under kfake faults: a
// file of n lines "<topic>-<i>" is produced, with on set, into topic (new,
// 4 partitions); every line must be stored or in --failed-out, which is
// then resent. injected says how many faults the run got: none fails t.
func faultyProduce(t *testing.T, s *reliability.Tally, c *cli, k *sandbox.Kafka, adm *kadm.Client, on *atomic.Bool, topic string, n int, dir string, injected func() int64) {
	t.Helper()
	if _, err := adm.CreateTopic(context.Background(), 4, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	in, lines := inputLines(t, topic, n)
	fo := filepath.Join(dir, topic+".failed.jsonl")
	on.Store(true)
	r := c.run("produce", topic, "--url", k.URL, "--file", in, "--failed-out", fo, "--in-flight", "100")
	on.Store(false)
	if injected() == 0 {
		t.Fatalf("%s: no fault was injected", topic)
	}
	failed := failedValues(t, fo)
	if (r.code == 3) != (len(failed) > 0) || (r.code != 0 && r.code != 3) {
		t.Fatalf("exit %d with %d in --failed-out: %s", r.code, len(failed), r.stderr)
	}
	stored := kafkaValues(t, k.Addrs(), topic)
	if lost, _, missing := lostAndDuplicated(lines, append(stored, failed...)); lost > 0 {
		t.Errorf("%s: %d lines neither stored nor in --failed-out, e.g. %v", topic, lost, missing)
	}
	if len(failed) > 0 {
		s.Count("exit 3, --failed-out resent")
		if r := c.run("produce", topic, "--url", k.URL, "--format", "jsonl", "--file", fo); r.code != 0 {
			t.Fatalf("resending --failed-out: %+v", r)
		}
		stored = kafkaValues(t, k.Addrs(), topic)
	}
	record(t, s, lines, stored)
}

// faultyConsume is one run of a consume scenario under kfake faults: topic
// (new, 3 partitions) gets n records "v<i>"; a first `consume --group g
// --until-end` runs with on set, a second without; the two outputs must
// hold every record. The first run's exit code is counted, not checked:
// what must hold is that the second run fills every gap.
func faultyConsume(t *testing.T, s *reliability.Tally, c *cli, k *sandbox.Kafka, cl *kgo.Client, adm *kadm.Client, on *atomic.Bool, topic string, n int, dir string) {
	t.Helper()
	if _, err := adm.CreateTopic(context.Background(), 3, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	produceRecords(t, cl, topic, n)
	want := recordValues(n)
	first, second := filepath.Join(dir, topic+"-1.jsonl"), filepath.Join(dir, topic+"-2.jsonl")
	on.Store(true)
	code, _ := runWithFault(t, c.command(context.Background(), "consume", topic, "--url", k.URL, "--group", "g", "--until-end", "-o", "jsonl"), first, 0, nil)
	on.Store(false)
	if code != 0 {
		s.Count(fmt.Sprintf("first run exit %d", code))
	}
	if code, _ := runWithFault(t, c.command(context.Background(), "consume", topic, "--url", k.URL, "--group", "g", "--until-end", "-o", "jsonl"), second, 0, nil); code != 0 {
		t.Fatalf("second run: exit %d", code)
	}
	record(t, s, want, jsonlValues(t, first, second))
}

// dropPlan picks, per run, a few requests among the first ones for kfake
// to close the connection they came on, before the broker acts on them.
type dropPlan struct {
	mu   sync.Mutex
	at   map[int64]bool
	seen int64
	// dropped counts the connections closed, requests the requests seen.
	dropped, requests atomic.Int64
}

// reset starts a run that drops the requests at the positions at (1 is
// the run's first request); it returns how many connections the plan had
// closed since the last reset.
func (p *dropPlan) reset(at ...int64) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.at = make(map[int64]bool, len(at))
	for _, i := range at {
		p.at[i] = true
	}
	p.seen = 0
	return p.dropped.Swap(0)
}

// somePositions is n positions picked at random among 1..among.
func somePositions(n, among int) []int64 {
	at := make([]int64, n)
	for i, v := range rand.Perm(among)[:n] {
		at[i] = int64(v) + 1
	}
	return at
}

func (p *dropPlan) drop() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen++
	p.requests.Add(1)
	if !p.at[p.seen] {
		return false
	}
	p.dropped.Add(1)
	return true
}

// kfakeDrops closes the connection of the requests of key that plan picks
// while on is set: kfake closes a client's connection when a control
// function returns an error.
func kfakeDrops(k *sandbox.Kafka, key kmsg.Key, on *atomic.Bool, plan *dropPlan) {
	k.Cluster().ControlKey(int16(key), func(kmsg.Request) (kmsg.Response, error, bool) {
		k.Cluster().KeepControl()
		if !on.Load() || !plan.drop() {
			return nil, nil, false
		}
		return nil, errors.New("connection dropped by the test"), true
	})
}

// recoverProduce is what an operator does after a produce run ended with
// code: nothing after exit 0, resend --failed-out after exit 3, the whole
// input again otherwise. It returns a note on what was done, "" for
// nothing.
func recoverProduce(t *testing.T, c *cli, code int, fo string, args ...string) string {
	t.Helper()
	switch code {
	case 0:
		return ""
	case 3:
		// As an operator would: resend what failed, and again what failed
		// in that resend (a cluster still electing, or too loaded to
		// replicate within --confirm-timeout, fails a resend too).
		for attempt := 1; ; attempt++ {
			next := fmt.Sprintf("%s.%d", fo, attempt)
			r := c.run(append(args, "--format", "jsonl", "--file", fo, "--failed-out", next)...)
			switch {
			case r.code == 0 && attempt == 1:
				return "exit 3, --failed-out resent"
			case r.code == 0:
				return "exit 3, --failed-out resent more than once"
			case r.code != 3 || attempt == 5:
				t.Fatalf("recovery after exit 3, resend %d: %+v", attempt, r)
			}
			fo = next
		}
	default:
		if r := c.run(args...); r.code != 0 {
			t.Fatalf("recovery after exit %d: %+v", code, r)
		}
		return fmt.Sprintf("exit %d, input sent again", code)
	}
}

// runWithFault runs cmd (stdout to out when not empty), calls fault (when
// not nil) after d while it runs, and returns its exit code and whether
// fault came while it was still running. A run that goes on 90 s after
// the fault fails t.
func runWithFault(t *testing.T, cmd *exec.Cmd, out string, d time.Duration, fault func()) (int, bool) {
	t.Helper()
	if fault == nil {
		code, _ := runWithFaults(t, cmd, out, nil, nil, nil)
		return code, false
	}
	code, mid := runWithFaults(t, cmd, out, nil, []time.Duration{d}, fault)
	return code, mid > 0
}

// runWithFaults runs cmd (stdout to out when not empty); once started
// says the work began (nil: at once; polled every 5 ms for at most 30 s)
// it calls fault after each of gaps in turn while cmd runs. It returns the
// exit code and how many faults came while cmd was still running: the
// first ones called, as no fault is called once cmd ended. A run that goes
// on 90 s after the last fault fails t.
func runWithFaults(t *testing.T, cmd *exec.Cmd, out string, started func() bool, gaps []time.Duration, fault func()) (int, int) {
	t.Helper()
	if out != "" {
		fh := toFile(t, cmd, out)
		defer fh.Close()
	}
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	finished := func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	for deadline := time.Now().Add(30 * time.Second); started != nil && !started() && !finished() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	mid := 0
	for _, d := range gaps {
		select {
		case <-done:
		case <-time.After(d):
			if fault(); !finished() {
				mid++
			}
			continue
		}
		break
	}
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("mqctl %v hung for 90 s after the fault; stderr: %s", cmd.Args[1:], errb.String())
	}
	t.Logf("exit %d: %s", cmd.ProcessState.ExitCode(), lastLine(errb.String()))
	return cmd.ProcessState.ExitCode(), mid
}

// The embedded nats-server is shut down and started again on the same
// port and store mid-produce and mid-consume: nothing is lost.
func TestReliabilityNATSRestart(t *testing.T) {
	runs := reliability.Runs(t)
	t.Run("produce", func(t *testing.T) {
		t.Parallel()
		s := reliability.Start(t, "NATS server restarted mid-`produce`, JetStream")
		const n = 20000
		srv, js := natsJetStream(t)
		c := newCLI(t)
		dir := t.TempDir()
		for run := range runs {
			stream := fmt.Sprintf("RELR%d", run)
			subject := fmt.Sprintf("relr%d.x", run)
			if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: stream, Subjects: []string{subject}, Storage: jetstream.FileStorage}); err != nil {
				t.Fatal(err)
			}
			in, lines := inputLines(t, stream, n)
			fo := filepath.Join(dir, stream+".failed.jsonl")
			args := []string{"produce", subject, "--url", srv.URL, "--file", in, "--failed-out", fo}
			code, mid := runWithFault(t, c.command(context.Background(), args...), "", between(50*time.Millisecond, 600*time.Millisecond), func() {
				if err := srv.Restart(); err != nil {
					t.Fatal(err)
				}
			})
			if mid {
				s.Count("restarted mid-run")
			}
			if note := recoverProduce(t, c, code, fo, args[:len(args)-2]...); note != "" {
				s.Count(note)
			}
			record(t, s, lines, streamValues(t, js, stream))
		}
		s.Note("%d lines per run, restart after 50-600 ms", n)
	})
	t.Run("consume durable", func(t *testing.T) {
		t.Parallel()
		s := reliability.Start(t, "NATS server restarted mid-`consume --consumer` (durable), JetStream")
		const n = 20000
		srv, js := natsJetStream(t)
		c := newCLI(t)
		dir := t.TempDir()
		for run := range runs {
			stream := fmt.Sprintf("RELRC%d", run)
			want := jsStreamWith(t, js, stream, fmt.Sprintf("relrc%d.x", run), n)
			first, second := filepath.Join(dir, stream+"-1.jsonl"), filepath.Join(dir, stream+"-2.jsonl")
			// The consumer resumes some seconds after the restart: the
			// first run waits 10 s for messages, so it rides the restart.
			cmd := c.command(context.Background(), "consume", stream, "--url", srv.URL, "--consumer", "dur", "--idle-timeout", "10s", "-o", "jsonl")
			code, mid := runWithFault(t, cmd, first, between(100*time.Millisecond, 1000*time.Millisecond), func() {
				if err := srv.Restart(); err != nil {
					t.Fatal(err)
				}
			})
			if mid {
				s.Count("restarted mid-run")
			}
			if code != 0 {
				s.Count(fmt.Sprintf("first run exit %d", code))
			}
			if got := len(jsonlValues(t, first)); got < n {
				s.Count("first run stopped (idle 10 s) before the end")
			}
			cmd = c.command(context.Background(), "consume", stream, "--url", srv.URL, "--consumer", "dur", "--idle-timeout", "4s", "-o", "jsonl")
			if code, _ := runWithFault(t, cmd, second, 0, nil); code != 0 {
				t.Fatalf("second run: exit %d", code)
			}
			record(t, s, want, jsonlValues(t, first, second))
		}
		s.Note("%d messages per run, restart after 0.1-1 s; first run --idle-timeout 10s, second 4s (durable ack wait 2 s)", n)
	})
}

// closeMQCTLConnections closes, through the management API, mqctl's
// connections (connection_name "mqctl") in vhost: the server closes them
// with CONNECTION_FORCED, as `rabbitmqctl close_all_connections` does, but
// leaves the other tests on the shared node alone. The API lists a new
// connection a little after it opened, so it looks for up to 3 s. It
// returns how many it closed.
func closeMQCTLConnections(t *testing.T, rmq *testenv.RabbitMQEnv, vhost string) int {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		var conns []struct {
			Name             string `json:"name"`
			ClientProperties struct {
				ConnectionName string `json:"connection_name"`
			} `json:"client_properties"`
		}
		if err := rmq.Call(http.MethodGet, "/api/vhosts/"+url.PathEscape(vhost)+"/connections", nil, &conns); err != nil {
			t.Error(err)
			return 0
		}
		closed := 0
		for _, c := range conns {
			if c.ClientProperties.ConnectionName != "mqctl" {
				continue
			}
			if err := rmq.Call(http.MethodDelete, "/api/connections/"+url.PathEscape(c.Name), nil, nil); err != nil {
				t.Error(err)
			}
			closed++
		}
		if closed > 0 || time.Now().After(deadline) {
			return closed
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// RabbitMQ closes mqctl's connections mid-produce and mid-consume:
// nothing is lost.
func TestReliabilityRabbitMQConnectionsClosed(t *testing.T) {
	runs := reliability.Runs(t)
	rmq := testenv.RabbitMQ(t)
	t.Run("produce", func(t *testing.T) {
		t.Parallel()
		s := reliability.Start(t, "RabbitMQ closes mqctl's connections mid-`produce`")
		const n = 15000
		dir := t.TempDir()
		for run := range runs {
			u, ch := rabbitQueue(t, "q", nil)
			vh := u[strings.LastIndex(u, "/")+1:]
			c := newCLI(t)
			c.env = []string{"MQCTL_URL=" + u}
			in, lines := inputLines(t, fmt.Sprintf("rp%d", run), n)
			fo := filepath.Join(dir, fmt.Sprintf("rp%d.failed.jsonl", run))
			args := []string{"produce", "--queue", "q", "--rate", "5000", "--file", in, "--failed-out", fo}
			code, mid := runWithFault(t, c.command(context.Background(), args...), "", between(200*time.Millisecond, 1500*time.Millisecond), func() {
				if closeMQCTLConnections(t, rmq, vh) > 0 {
					s.Count("connection closed")
				}
			})
			if mid {
				s.Count("closed mid-run")
			}
			if note := recoverProduce(t, c, code, fo, args[:len(args)-2]...); note != "" {
				s.Count(note)
			}
			record(t, s, lines, drainAMQP(t, ch, "q"))
		}
		s.Note("%d lines per run at --rate 5000, connections closed after 0.2-1.5 s (or when the management API first lists them)", n)
	})
	t.Run("consume", func(t *testing.T) {
		t.Parallel()
		s := reliability.Start(t, "RabbitMQ closes mqctl's connections mid-`consume`")
		const n = 10000
		dir := t.TempDir()
		for run := range runs {
			u, ch := rabbitQueue(t, "q", nil)
			vh := u[strings.LastIndex(u, "/")+1:]
			want := make([]string, n)
			for i := range want {
				want[i] = fmt.Sprintf("rc%d-%d", run, i)
			}
			publishConfirmed(t, ch, "q", want)
			c := newCLI(t)
			c.env = []string{"MQCTL_URL=" + u}
			first, second := filepath.Join(dir, fmt.Sprintf("rc%d-1.jsonl", run)), filepath.Join(dir, fmt.Sprintf("rc%d-2.jsonl", run))
			code, mid := runWithFault(t, c.command(context.Background(), "consume", "q", "--idle-timeout", "5s", "-o", "jsonl"), first, between(100*time.Millisecond, 800*time.Millisecond), func() {
				if closeMQCTLConnections(t, rmq, vh) > 0 {
					s.Count("connection closed")
				}
			})
			if mid {
				s.Count("closed mid-run")
			}
			if code != 0 {
				s.Count(fmt.Sprintf("first run exit %d", code))
			}
			waitConsumersGone(t, ch, "q")
			if code, _ := runWithFault(t, c.command(context.Background(), "consume", "q", "--until-end", "-o", "jsonl"), second, 0, nil); code != 0 {
				t.Fatalf("second run: exit %d", code)
			}
			record(t, s, want, jsonlValues(t, first, second))
		}
		s.Note("%d messages per run, connections closed after 0.1-0.8 s; first run --idle-timeout 5s, second --until-end", n)
	})
}
