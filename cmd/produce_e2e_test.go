package cmd_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// kafkaTopic creates a topic on a fresh kfake and returns its URL and a client.
func kafkaTopic(t *testing.T, topic string, partitions int32, configs map[string]*string, extra ...kfake.Opt) (*sandbox.Kafka, *kgo.Client) {
	t.Helper()
	k := testenv.Kafka(t, sandbox.KafkaOptions{Extra: extra})
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), partitions, 1, configs, topic); err != nil {
		t.Fatal(err)
	}
	return k, cl
}

// readTopic reads n records from the start of topic, failing after 15s.
func readTopic(t *testing.T, seeds []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records from %s", len(out), n, topic)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func headerString(hs []kgo.RecordHeader) string {
	var parts []string
	for _, h := range hs {
		parts = append(parts, fmt.Sprintf("%s=%q", h.Key, h.Value))
	}
	return strings.Join(parts, ",")
}

func TestProduceKafkaKeysHeadersPartitions(t *testing.T) {
	k, _ := kafkaTopic(t, "p1", 4, nil)
	r := newCLI(t).runIn([]byte("one\ntwo\nthree\n"), "produce", "p1", "--url", k.URL, "-k", "cust-7", "-H", "a=1", "-H", "a=2", "-H", "b=x=y")
	if r.code != 0 || !strings.Contains(r.stderr, "sent 3, confirmed 3, failed 0") {
		t.Fatalf("produce: %+v", r)
	}
	recs := readTopic(t, k.Addrs(), "p1", 3)
	for i, rec := range recs {
		if string(rec.Key) != "cust-7" || headerString(rec.Headers) != `a="1",a="2",b="x=y"` || rec.Partition != recs[0].Partition {
			t.Errorf("record %d: key %q headers %s partition %d", i, rec.Key, headerString(rec.Headers), rec.Partition)
		}
	}
	if got := string(recs[0].Value) + string(recs[1].Value) + string(recs[2].Value); got != "onetwothree" {
		t.Errorf("values in order: %q", got)
	}
	r = newCLI(t).run("produce", "p1", "--url", k.URL, "--partition", "2", "v")
	if r.code != 0 {
		t.Fatalf("--partition: %+v", r)
	}
	for _, rec := range readTopic(t, k.Addrs(), "p1", 4) {
		if string(rec.Value) == "v" && rec.Partition != 2 {
			t.Errorf("--partition 2 landed on %d", rec.Partition)
		}
	}
}

// A message consumed as jsonl and produced back keeps binary key, headers and value.
func TestProduceJSONLBinaryRoundTrip(t *testing.T) {
	k, _ := kafkaTopic(t, "bin", 1, nil)
	in := `{"v":1,"key_b64":"/wAB","value_b64":"gAA=","headers":[["h",{"b64":"/w=="}],["h","text"]]}` + "\n" +
		`{"v":1,"key":"","value":""}` + "\n"
	r := newCLI(t).runIn([]byte(in), "produce", "bin", "--url", k.URL, "--format", "jsonl")
	if r.code != 0 {
		t.Fatalf("produce: %+v", r)
	}
	recs := readTopic(t, k.Addrs(), "bin", 2)
	if string(recs[0].Key) != "\xff\x00\x01" || string(recs[0].Value) != "\x80\x00" || headerString(recs[0].Headers) != `h="\xff",h="text"` {
		t.Errorf("binary record: key %q value %q headers %s", recs[0].Key, recs[0].Value, headerString(recs[0].Headers))
	}
	if recs[1].Key == nil || len(recs[1].Key) != 0 {
		t.Errorf("an empty key must stay an empty key, not null: %#v", recs[1].Key)
	}
}

// kcat and mqctl, given the same key, value and headers, write records a
// consumer cannot tell apart, on the same partition. kcat is told to use
// murmur2 like the Java client (librdkafka's default is CRC32-based).
func TestProduceLooksLikeKcat(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		if testenv.CI() {
			t.Fatal("kcat not installed: make test installs it")
		}
		t.Skip("kcat not installed")
	}
	k, _ := kafkaTopic(t, "interop", 4, nil)
	brokers := strings.Join(k.Addrs(), ",")
	for _, key := range []string{"alpha", "customer-42", "z"} {
		kc := exec.Command("kcat", "-P", "-b", brokers, "-t", "interop", "-K", ":", "-H", "h1=v1", "-H", "h1=v2", "-X", "partitioner=murmur2_random")
		kc.Stdin = strings.NewReader(key + ":value-of-" + key + "\n")
		if out, err := kc.CombinedOutput(); err != nil {
			t.Fatalf("kcat: %v %s", err, out)
		}
		r := newCLI(t).run("produce", "interop", "--url", k.URL, "-k", key, "-H", "h1=v1", "-H", "h1=v2", "value-of-"+key)
		if r.code != 0 {
			t.Fatalf("produce: %+v", r)
		}
	}
	recs := readTopic(t, k.Addrs(), "interop", 6)
	byKey := map[string][]*kgo.Record{}
	for _, rec := range recs {
		byKey[string(rec.Key)] = append(byKey[string(rec.Key)], rec)
	}
	for key, pair := range byKey {
		if len(pair) != 2 {
			t.Fatalf("key %s: %d records", key, len(pair))
		}
		a, b := pair[0], pair[1]
		if a.Partition != b.Partition || string(a.Value) != string(b.Value) || headerString(a.Headers) != headerString(b.Headers) {
			t.Errorf("key %s: kcat %d %q %s vs mqctl %d %q %s", key, a.Partition, a.Value, headerString(a.Headers), b.Partition, b.Value, headerString(b.Headers))
		}
	}
}

func TestProduceBadInput(t *testing.T) {
	k, _ := kafkaTopic(t, "bad", 1, nil)
	cases := []struct {
		name    string
		stdin   string
		args    []string
		code    int
		mention string
	}{
		{"missing topic", "", []string{"produce", "nope", "v"}, 5, `topic "nope"`},
		{"header without =", "", []string{"produce", "bad", "-H", "novalue", "v"}, 2, `header "novalue"`},
		{"bad jsonl", "{\"value\":\"a\"}\n{\"value\":7}\n", []string{"produce", "bad", "--format", "jsonl"}, 2, "line 2"},
		{"not json", "garbage\n", []string{"produce", "bad", "--format", "jsonl"}, 2, "line 1: not JSON"},
		{"bad base64", `{"value_b64":"%%%"}` + "\n", []string{"produce", "bad", "--format", "jsonl"}, 2, "invalid base64"},
		{"rabbit flag on kafka", "", []string{"produce", "bad", "--routing-key", "x", "v"}, 2, "--routing-key applies to rabbitmq"},
		{"no dest", "", []string{"produce"}, 2, "DEST is required"},
		{"bad format", "", []string{"produce", "bad", "--format", "csv"}, 2, "--format"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newCLI(t).runIn([]byte(tc.stdin), append(tc.args, "--url", k.URL)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.mention) {
				t.Fatalf("exit %d (want %d), stderr %q (want mention of %q)", r.code, tc.code, r.stderr, tc.mention)
			}
		})
	}
	// --skip-invalid reports the bad line and sends the rest.
	r := newCLI(t).runIn([]byte("{\"value\":\"a\"}\nnope\n{\"value\":\"c\"}\n"), "produce", "bad", "--url", k.URL, "--format", "jsonl", "--skip-invalid")
	if r.code != 0 || !strings.Contains(r.stderr, "skipped line 2") || !strings.Contains(r.stderr, "confirmed 2") {
		t.Fatalf("--skip-invalid: %+v", r)
	}
}

// failedOut reads a --failed-out file as envelopes; a file that does not
// exist (no message failed) holds none.
func failedOut(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("failed-out line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

// A record over the topic's max.message.bytes fails with the broker's
// reason; the others are confirmed; exit 3; the failed one is in --failed-out.
func TestProduceTooLargeIsPartial(t *testing.T) {
	limit := "1000"
	k, _ := kafkaTopic(t, "small", 1, map[string]*string{"max.message.bytes": &limit})
	fo := filepath.Join(t.TempDir(), "failed.jsonl")
	in := "ok-1\n" + strings.Repeat("x", 5000) + "\nok-2\n"
	r := newCLI(t).runIn([]byte(in), "produce", "small", "--url", k.URL, "--failed-out", fo)
	if r.code != 3 || !strings.Contains(r.stderr, "confirmed 2, failed 1") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	fails := failedOut(t, fo)
	if len(fails) != 1 || len(fails[0]["value"].(string)) != 5000 || !strings.Contains(fails[0]["error"].(string), "MESSAGE_TOO_LARGE") {
		t.Fatalf("failed-out: %v", fails)
	}
}

// Produce requests failing mid-stream (kfake fault hook): retriable
// NOT_LEADER answers, one request rejected as INVALID_RECORD and dropped
// connections. Every input line is either in the topic or in --failed-out,
// and the summary agrees with what is stored.
func TestProduceKafkaFaultsLoseNothing(t *testing.T) {
	k, _ := kafkaTopic(t, "faulty", 2, nil)
	var requests atomic.Int32
	k.Cluster().ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		k.Cluster().KeepControl()
		calls := requests.Add(1)
		var code int16
		switch {
		case calls == 5 || calls == 7:
			code = 6 // NOT_LEADER_OR_FOLLOWER: retriable
		case calls == 10 || calls == 11:
			code = 87 // INVALID_RECORD: those records fail
		case calls == 14:
			return nil, errors.New("drop the connection"), true
		default:
			return nil, nil, false
		}
		return testenv.KafkaProduceError(req, code), nil, true
	})
	var in strings.Builder
	const n = 3000
	for i := range n {
		fmt.Fprintf(&in, "m-%d\n", i)
	}
	fo := filepath.Join(t.TempDir(), "failed.jsonl")
	r := newCLI(t).runIn([]byte(in.String()), "produce", "faulty", "--url", k.URL, "--failed-out", fo, "--in-flight", "100")
	fails := failedOut(t, fo)
	if n := requests.Load(); n < 14 {
		t.Fatalf("only %d produce requests: the faults were not exercised", n)
	}
	if (r.code == 3) != (len(fails) > 0) || (r.code != 0 && r.code != 3) {
		t.Fatalf("exit %d with %d failed: %s", r.code, len(fails), r.stderr)
	}
	// A request answered with an error may still have been written
	// (Kafka cannot say), so a failed line may also be stored: failed
	// means "not confirmed", never "confirmed but lost".
	stored := readTopic(t, k.Addrs(), "faulty", n-len(fails))
	seen := map[string]int{}
	for _, rec := range stored {
		seen[string(rec.Value)]++
	}
	for _, f := range fails {
		seen[f["value"].(string)] += 100
	}
	for i := range n {
		if c := seen[fmt.Sprintf("m-%d", i)]; c != 1 && c != 100 && c != 101 {
			t.Errorf("m-%d: stored %d times, failed %d times", i, c%100, c/100)
		}
	}
	if !strings.Contains(r.stderr, fmt.Sprintf("confirmed %d, failed %d", n-len(fails), len(fails))) {
		t.Errorf("summary disagrees with what is stored: %s", r.stderr)
	}
}

func TestProduceRabbitMQ(t *testing.T) {
	rmq := testenv.RabbitMQ(t)
	conn, err := amqp.Dial(rmq.AMQPURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, _ := conn.Channel()
	queue, exchange := testenv.UniqueName(t, "pq"), testenv.UniqueName(t, "px")
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	defer ch.QueueDelete(queue, false, false, false)
	if err := ch.ExchangeDeclare(exchange, "direct", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(queue, "good", exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	c := newCLI(t)
	c.env = []string{"MQCTL_URL=" + rmq.AMQPURL}

	r := c.run("produce", "--queue", queue, "-H", "h=1", "--message-id", "m-1", "--priority", "3", "a", "b")
	if r.code != 0 || !strings.Contains(r.stderr, "confirmed 2") {
		t.Fatalf("--queue: %+v", r)
	}
	d, ok, err := ch.Get(queue, true)
	if err != nil || !ok || string(d.Body) != "a" || d.MessageId != "m-1" || d.Priority != 3 || d.DeliveryMode != amqp.Persistent || fmt.Sprint(d.Headers["h"]) != "1" {
		t.Fatalf("got %+v ok=%v err=%v", d, ok, err)
	}

	// Unroutable with mandatory: exit 3, in --failed-out; resending the
	// failed-out file to a routable key delivers them.
	fo := filepath.Join(t.TempDir(), "failed.jsonl")
	r = c.run("produce", exchange, "--routing-key", "nowhere", "--failed-out", fo, "x", "y", "z")
	if r.code != 3 || !strings.Contains(r.stderr, "confirmed 0, failed 3") {
		t.Fatalf("unroutable: %+v", r)
	}
	if fails := failedOut(t, fo); len(fails) != 3 || !strings.Contains(fmt.Sprint(fails[0]["error"]), "unroutable") {
		t.Fatalf("failed-out: %v", fails)
	}
	r = c.run("produce", exchange, "--routing-key", "good", "--format", "jsonl", "--file", fo)
	if r.code != 0 || !strings.Contains(r.stderr, "confirmed 3") {
		t.Fatalf("resend failed-out: %+v", r)
	}
	r = c.run("produce", "no-such-exchange", "v")
	expectError(t, r, 5, "no-such-exchange")
}

func TestProduceNATS(t *testing.T) {
	n, _, stream := natsStream(t, "P", []string{"p.>"}, "p.x", 0)
	ctx := context.Background()
	c := newCLI(t)
	c.env = []string{"MQCTL_URL=" + n.URL}
	// The same line numbers twice with --msg-id '{{.N}}': the second run is
	// de-duplicated, and says so instead of claiming new writes.
	for i, want := range []string{"#1 confirmed stream P seq 1\n", "#1 duplicate stream P seq 1 (stored before, not stored again)\n"} {
		r := c.runIn([]byte("a\nb\nc\n"), "produce", "p.x", "--msg-id", "line-{{.N}}", "-H", "k=v", "-v")
		summary := []string{"sent 3, confirmed 3, failed 0 in", "sent 3, confirmed 0, failed 0, duplicates 3 ("}[i]
		if r.code != 0 || !strings.Contains(r.stderr, summary) || !strings.Contains(r.stderr, want) {
			t.Fatalf("run %d: %+v", i+1, r)
		}
	}
	info, _ := stream.Info(ctx)
	if info.State.Msgs != 3 {
		t.Fatalf("stream holds %d messages, want 3 after a de-duplicated second run", info.State.Msgs)
	}
	msg, err := stream.GetMsg(ctx, 1)
	if err != nil || string(msg.Data) != "a" || msg.Header.Get("k") != "v" || msg.Header.Get("Nats-Msg-Id") != "line-1" {
		t.Fatalf("stored: %+v %v", msg, err)
	}
	expectError(t, c.run("produce", "nostream.x", "v"), 5, "nostream.x")
	r := c.run("produce", "nostream.x", "--core", "v")
	if r.code != 0 || !strings.Contains(r.stderr, "no confirm") {
		t.Fatalf("--core: %+v", r)
	}
}

// A nats-server restart in the middle of a rate-limited run: every line is
// stored or in --failed-out.
func TestProduceNATSRestartLosesNothing(t *testing.T) {
	n := testenv.NATS(t, sandbox.NATSOptions{})
	nc, err := nats.Connect(n.URL)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R", Subjects: []string{"r"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	const total = 400
	var in strings.Builder
	for i := range total {
		fmt.Fprintf(&in, "m-%d\n", i)
	}
	fo := filepath.Join(t.TempDir(), "failed.jsonl")
	c := newCLI(t)
	done := make(chan result, 1)
	go func() {
		done <- c.runIn([]byte(in.String()), "produce", "r", "--url", n.URL, "--rate", "200", "--failed-out", fo, "--confirm-timeout", "3s")
	}()
	time.Sleep(700 * time.Millisecond)
	if err := n.Restart(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.code != 0 && r.code != 3 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	nc, err = nats.Connect(n.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ = jetstream.New(nc)
	s, _ := js.Stream(ctx, "R")
	info, _ := s.Info(ctx)
	seen := map[string]bool{}
	for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
		if m, err := s.GetMsg(ctx, seq); err == nil {
			seen[string(m.Data)] = true
		}
	}
	for _, f := range failedOut(t, fo) {
		seen[f["value"].(string)] = true
	}
	for i := range total {
		if !seen[fmt.Sprintf("m-%d", i)] {
			t.Errorf("m-%d neither stored nor in --failed-out", i)
		}
	}
}

// The broker closes mqctl's connection in the middle of a rate-limited
// run: every line ends up in the queue or in --failed-out, and the run
// exits 3 saying so.
func TestProduceRabbitMQConnectionClosedLosesNothing(t *testing.T) {
	rmq := testenv.RabbitMQ(t)
	vhost := rmq.NewVHost(t)
	u, _ := url.Parse(rmq.AMQPURL)
	vhURL := fmt.Sprintf("amqp://%s@%s/%s", u.User.String(), u.Host, vhost)

	conn, err := amqp.Dial(vhURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, _ := conn.Channel()
	if _, err := ch.QueueDeclare("work", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	const total = 1500
	var in strings.Builder
	for i := range total {
		fmt.Fprintf(&in, "m-%d\n", i)
	}
	fo := filepath.Join(t.TempDir(), "failed.jsonl")
	done := make(chan result, 1)
	c := newCLI(t)
	go func() {
		done <- c.runIn([]byte(in.String()), "produce", "--queue", "work", "--url", vhURL, "--rate", "150", "--failed-out", fo)
	}()
	// Close mqctl's connection (the only "mqctl" one in this vhost) once it is publishing.
	deadline := time.Now().Add(20 * time.Second)
	closed := false
	for !closed && time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		var conns []struct {
			Name   string `json:"name"`
			VHost  string `json:"vhost"`
			Client struct {
				Name string `json:"connection_name"`
			} `json:"client_properties"`
		}
		rmq.MustCall(t, http.MethodGet, "/api/connections?columns=name,vhost,client_properties", nil, &conns)
		for _, cn := range conns {
			if cn.VHost == vhost && cn.Client.Name == "mqctl" {
				rmq.MustCall(t, http.MethodDelete, "/api/connections/"+url.PathEscape(cn.Name), nil, nil)
				closed = true
			}
		}
	}
	r := <-done
	if !closed {
		t.Fatalf("never saw mqctl's connection; run: %+v", r)
	}
	if r.code != 3 || !strings.Contains(r.stderr, "CONNECTION_FORCED") && !strings.Contains(r.stderr, "failed") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	seen := map[string]int{}
	for {
		d, ok, err := ch.Get("work", true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		seen[string(d.Body)]++
	}
	fails := failedOut(t, fo)
	for _, f := range fails {
		seen[f["value"].(string)] += 100
	}
	stored := 0
	for i := range total {
		switch c := seen[fmt.Sprintf("m-%d", i)]; c {
		case 1:
			stored++
		case 100, 101: // failed; 101: the broker had it before the close, unconfirmed
		default:
			t.Errorf("m-%d: stored %d times, failed %d times", i, c%100, c/100)
		}
	}
	if !strings.Contains(r.stderr, fmt.Sprintf("failed %d", len(fails))) {
		t.Errorf("summary disagrees with --failed-out (%d lines): %s", len(fails), r.stderr)
	}
	t.Logf("%d stored, %d failed: %s", stored, len(fails), strings.TrimSpace(r.stderr))
}

func TestProduceReviewRegressions(t *testing.T) {
	k, _ := kafkaTopic(t, "rr", 1, nil)
	t.Run("--failed-out is the --file", func(t *testing.T) {
		in := filepath.Join(t.TempDir(), "retry.jsonl")
		os.WriteFile(in, []byte(`{"value":"keep me"}`+"\n"), 0o600)
		expectError(t, newCLI(t).run("produce", "rr", "--url", k.URL, "--format", "jsonl", "--file", in, "--failed-out", in), 2, "is the --file being read")
		if data, _ := os.ReadFile(in); !strings.Contains(string(data), "keep me") {
			t.Fatalf("the input was emptied: %q", data)
		}
	})
	t.Run("a message the template rejects is reported", func(t *testing.T) {
		n := testenv.NATS(t, sandbox.NATSOptions{})
		nc, _ := nats.Connect(n.URL)
		defer nc.Close()
		js, _ := jetstream.New(nc)
		if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "T", Subjects: []string{"t"}}); err != nil {
			t.Fatal(err)
		}
		fo := filepath.Join(t.TempDir(), "failed.jsonl")
		r := newCLI(t).runIn([]byte("abcdefgh\nab\nabcdefgh\n"), "produce", "t", "--url", n.URL, "--msg-id", "{{index .Value 5}}", "--failed-out", fo)
		if r.code != 2 || !strings.Contains(r.stderr, "message 2") {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		if fails := failedOut(t, fo); len(fails) != 1 || fails[0]["value"] != "ab" {
			t.Fatalf("the rejected message is not in --failed-out: %v", fails)
		}
	})
	t.Run("Ctrl-C while stdin stays open", func(t *testing.T) {
		cmd := newCLI(t).command(context.Background(), "produce", "rr", "--url", k.URL)
		stdin, _ := cmd.StdinPipe()
		var errb strings.Builder
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer stdin.Close()
		fmt.Fprintln(stdin, "one")
		fmt.Fprintln(stdin, "two")
		time.Sleep(time.Second)
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Fatal("produce ignored SIGINT while stdin was open")
		}
		if cmd.ProcessState.ExitCode() != 130 || !strings.Contains(errb.String(), "sent 2, confirmed 2, failed 0") {
			t.Fatalf("exit %d: %s", cmd.ProcessState.ExitCode(), errb.String())
		}
	})
}
