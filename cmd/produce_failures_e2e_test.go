package cmd_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// lastLine is the last line of stderr: the error line of a failed run.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// rabbitVHostURL is the URL of a fresh vhost of the test RabbitMQ, so that
// its amq.* exchanges have no binding another test made.
func rabbitVHostURL(t *testing.T) string {
	t.Helper()
	rmq := testenv.RabbitMQ(t)
	vhost := rmq.NewVHost(t)
	u, err := url.Parse(rmq.AMQPURL)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("amqp://%s@%s/%s", u.User.String(), u.Host, url.PathEscape(vhost))
}

// topicRecords counts the records stored in topic.
func topicRecords(t *testing.T, cl *kgo.Client, topic string) int64 {
	t.Helper()
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// A failed publish says why without -v: the error line groups the failures
// by the broker's reason, and --failed-out records where each message was
// sent, on every broker (issue 11 items 4 and 14). The refusals are the
// brokers' own: RabbitMQ's basic.return, kfake's MESSAGE_TOO_LARGE,
// JetStream's max_msg_size.
func TestProduceFailureReasons(t *testing.T) {
	t.Run("rabbitmq unroutable", func(t *testing.T) {
		c := newCLI(t)
		c.env = []string{"MQCTL_URL=" + rabbitVHostURL(t)}
		fo := filepath.Join(t.TempDir(), "failed.jsonl")
		r := c.run("produce", "amq.topic", "--failed-out", fo, "x", "y")
		if r.code != 3 || !strings.Contains(lastLine(r.stderr), "2 of 2 messages failed: 2 × NO_ROUTE (312)") {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		for _, f := range failedOut(t, fo) {
			if f["exchange"] != "amq.topic" || !strings.Contains(fmt.Sprint(f["error"]), "NO_ROUTE") {
				t.Errorf("failed-out envelope does not name the exchange it was sent to: %v", f)
			}
		}
		// Through the default exchange to a queue that is gone by now:
		// the exchange is "" and the routing key is the queue.
		r = c.runIn([]byte(`{"v":1,"value":"z","exchange":"elsewhere","routing_key":"other"}`+"\n"), "produce", "", "--routing-key", "no-such-queue", "--format", "jsonl", "--failed-out", fo)
		if r.code != 3 || !strings.Contains(lastLine(r.stderr), "1 × NO_ROUTE (312)") {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		if f := failedOut(t, fo); len(f) != 1 || f[0]["exchange"] != "" || f[0]["routing_key"] != "no-such-queue" {
			t.Errorf("failed-out: %v", f)
		}
	})

	t.Run("kafka reasons with counts", func(t *testing.T) {
		limit := "1000"
		k, cl := kafkaTopic(t, "small", 1, map[string]*string{"max.message.bytes": &limit})
		big := strings.Repeat("b", 3000)
		in := fmt.Sprintf(`{"value":"ok","topic":"elsewhere","partition":0}
{"value":%q,"partition":0}
{"value":"to a partition the topic lacks","partition":7}
{"value":%q,"partition":0}
`, big, big)
		fo := filepath.Join(t.TempDir(), "failed.jsonl")
		r := newCLI(t).runIn([]byte(in), "produce", "small", "--url", k.URL, "--format", "jsonl", "--partitioner", "manual", "--failed-out", fo)
		want := "3 of 4 messages failed: 2 × MESSAGE_TOO_LARGE (max.message.bytes 1000), 1 × partition 7 does not exist (topic has 1)"
		if r.code != 3 || !strings.Contains(lastLine(r.stderr), want) {
			t.Fatalf("exit %d, want %q in: %s", r.code, want, r.stderr)
		}
		fails := failedOut(t, fo)
		if len(fails) != 3 {
			t.Fatalf("failed-out: %v", fails)
		}
		for _, f := range fails {
			if f["topic"] != "small" || f["offset"] != nil {
				t.Errorf("failed-out envelope: topic %v offset %v, want the topic it was sent to and no offset", f["topic"], f["offset"])
			}
		}
		if n := topicRecords(t, cl, "small"); n != 1 {
			t.Errorf("%d records stored, want 1", n)
		}
	})

	t.Run("kafka default max message bytes", func(t *testing.T) {
		k, _ := kafkaTopic(t, "plain", 1, nil)
		big := strings.Repeat("m", 1100000)
		r := newCLI(t).runIn([]byte(big), "produce", "plain", "--url", k.URL, "--format", "raw")
		if r.code != 3 || !strings.Contains(lastLine(r.stderr), "1 of 1 messages failed: 1 × MESSAGE_TOO_LARGE") {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	})

	t.Run("jetstream", func(t *testing.T) {
		n := testenv.NATS(t, sandbox.NATSOptions{})
		nc, err := nats.Connect(n.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "SMALL", Subjects: []string{"small.>"}, MaxMsgSize: 100}); err != nil {
			t.Fatal(err)
		}
		fo := filepath.Join(t.TempDir(), "failed.jsonl")
		r := newCLI(t).runIn([]byte("ok\n"+strings.Repeat("x", 200)+"\n"), "produce", "small.x", "--url", n.URL, "--failed-out", fo)
		if r.code != 3 || !strings.Contains(lastLine(r.stderr), "1 of 2 messages failed: 1 × message size exceeds maximum allowed (err_code 10054)") {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		if f := failedOut(t, fo); len(f) != 1 || f[0]["subject"] != "small.x" {
			t.Errorf("failed-out does not name the subject: %v", f)
		}
	})

	t.Run("flags the broker would refuse are refused before sending", func(t *testing.T) {
		k, cl := kafkaTopic(t, "four", 4, nil)
		fo := filepath.Join(t.TempDir(), "failed.jsonl")
		expectError(t, newCLI(t).run("produce", "four", "--url", k.URL, "--partition", "99", "--failed-out", fo, "x"), 2, "partition 99 does not exist")
		if n := topicRecords(t, cl, "four"); n != 0 {
			t.Errorf("%d records stored", n)
		}
		c := newCLI(t)
		c.env = []string{"MQCTL_URL=" + rabbitVHostURL(t)}
		for _, exp := range []string{"soon", "-1", "1.5", " 10"} {
			expectError(t, c.run("produce", "amq.topic", "--routing-key", "k", "--expiration", exp, "--failed-out", fo, "x"), 2, "--expiration")
		}
		expectError(t, c.run("produce", "amq.topic", "-H", "a=1", "-H", "a=2", "--failed-out", fo, "x"), 2, `repeated header name "a"`)
		if _, err := os.Stat(fo); err == nil {
			t.Error("--failed-out was created although nothing was sent")
		}
		if r := c.run("produce", "amq.topic", "--routing-key", "k", "--expiration", "60000", "--mandatory=false", "x"); r.code != 0 {
			t.Errorf("--expiration 60000: %+v", r)
		}
	})
}

// The summary names three reasons at most, whatever happened.
func TestProduceFailureReasonsBounded(t *testing.T) {
	k, _ := kafkaTopic(t, "p", 1, nil)
	var in strings.Builder
	for i := range 6 {
		fmt.Fprintf(&in, `{"value":"v","partition":%d}`+"\n", 10+i)
	}
	r := newCLI(t).runIn([]byte(in.String()), "produce", "p", "--url", k.URL, "--format", "jsonl", "--partitioner", "manual")
	line := lastLine(r.stderr)
	if r.code != 3 || strings.Count(line, " × ") != 3 || !strings.Contains(line, "3 more for 3 other reasons") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
}

// --failed-out holds payloads: it is created 0600, and only when a message
// failed; a run that fails before sending leaves none behind (issue 11
// item 15).
func TestProduceFailedOutFile(t *testing.T) {
	k, _ := kafkaTopic(t, "t", 1, nil)
	dir := t.TempDir()
	fo := filepath.Join(dir, "failed.jsonl")

	expectError(t, newCLI(t).run("produce", "missing", "--url", k.URL, "--failed-out", fo, "x"), 5, "missing")
	sasl := testenv.Kafka(t, sandbox.KafkaOptions{Extra: []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "ops", "right-pass")}})
	c := newCLI(t)
	c.env = []string{"KPW=wrong-pass"}
	if r := c.run("context", "add", "k", "--url", sasl.URL, "--sasl", "SCRAM-SHA-256", "--username", "ops", "--password-env", "KPW"); r.code != 0 {
		t.Fatalf("context add: %+v", r)
	}
	expectError(t, c.run("produce", "t", "--failed-out", fo, "--timeout", "5s", "x"), 4, "", "wrong-pass")
	if r := newCLI(t).run("produce", "t", "--url", k.URL, "--failed-out", fo, "x"); r.code != 0 {
		t.Fatalf("produce: %+v", r)
	}
	if _, err := os.Stat(fo); err == nil {
		t.Fatal("--failed-out was created although no message failed")
	}

	// A failure creates it 0600.
	r := newCLI(t).run("produce", "t", "--url", k.URL, "--failed-out", fo, "--partitioner", "manual", "x")
	if r.code != 3 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	st, err := os.Stat(fo)
	if err != nil || st.Mode().Perm() != 0o600 || len(failedOut(t, fo)) != 1 {
		t.Fatalf("--failed-out: %v, %v", st, err)
	}
	// A later run that sends everything empties it: it never shows the
	// failures of an earlier run.
	if r := newCLI(t).run("produce", "t", "--url", k.URL, "--failed-out", fo, "x"); r.code != 0 {
		t.Fatalf("produce: %+v", r)
	}
	if data, _ := os.ReadFile(fo); len(data) != 0 {
		t.Fatalf("--failed-out still holds an earlier run's failures: %q", data)
	}

	// Refused before sending: a directory that does not exist, and the
	// file being read on stdin.
	expectError(t, newCLI(t).run("produce", "t", "--url", k.URL, "--failed-out", filepath.Join(dir, "no", "f.jsonl"), "x"), 2, "does not exist")
	in := filepath.Join(dir, "in.jsonl")
	os.WriteFile(in, []byte(`{"value":"keep me"}`+"\n"), 0o600)
	cmd := newCLI(t).command(context.Background(), "produce", "t", "--url", k.URL, "--format", "jsonl", "--failed-out", in)
	stdin, _ := os.Open(in)
	defer stdin.Close()
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), "standard input being read") {
		t.Fatalf("exit %d: %s %v", cmd.ProcessState.ExitCode(), out, err)
	}
	if data, _ := os.ReadFile(in); !strings.Contains(string(data), "keep me") {
		t.Fatalf("the input was emptied: %q", data)
	}
}

// jsonl lines that hold no message, or a key twice, are bad input naming
// the line; --skip-invalid reports them and goes on (issue 11 item 16).
func TestProduceJSONLRefusesEmptyAndDuplicate(t *testing.T) {
	k, cl := kafkaTopic(t, "j", 1, nil)
	for in, mention := range map[string]string{
		"{\"value\":\"a\"}\nnull\n":                    "line 2: a message envelope must be a JSON object, got null",
		"{\"value\":\"a\"}\n{}\n":                      `line 2: no "value" or "value_b64" field`,
		"{\"value\":\"a\",\"value\":\"b\"}\n":          `line 1: duplicate key "value"`,
		"{\"value\":\"a\",\"key\":\"k\",\"Key\":\"\"}": `line 1: duplicate key "Key"`,
	} {
		r := newCLI(t).runIn([]byte(in), "produce", "j", "--url", k.URL, "--format", "jsonl")
		if r.code != 2 || !strings.Contains(lastLine(r.stderr), mention) {
			t.Errorf("%q: exit %d, want 2 and %q in: %s", in, r.code, mention, r.stderr)
		}
	}
	// Only the valid line before null and the one before {} were sent.
	if n := topicRecords(t, cl, "j"); n != 2 {
		t.Errorf("%d records stored, want the 2 valid lines before a bad one", n)
	}
	r := newCLI(t).runIn([]byte("null\n{}\n{\"value\":\"c\"}\n"), "produce", "j", "--url", k.URL, "--format", "jsonl", "--skip-invalid")
	if r.code != 0 || !strings.Contains(r.stderr, "skipped line 1") || !strings.Contains(r.stderr, "skipped line 2") || !strings.Contains(r.stderr, "confirmed 1, failed 0, invalid 2") {
		t.Fatalf("--skip-invalid: %+v", r)
	}
}

// --skip-invalid on input that holds nothing but invalid lines sends
// nothing and fails as bad input (exit 2) with one error line, instead of
// exiting 0 as if the file had been restored.
func TestProduceSkipInvalidAllInvalidFails(t *testing.T) {
	k, cl := kafkaTopic(t, "allbad", 1, nil)
	r := newCLI(t).runIn([]byte("nope\n{}\n\nnull\n"), "produce", "allbad", "--url", k.URL, "--format", "jsonl", "--skip-invalid")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2: %s", r.code, r.stderr)
	}
	if want := "mqctl: no message sent: all 3 input lines were invalid (skipped by --skip-invalid)"; lastLine(r.stderr) != want {
		t.Errorf("last stderr line %q, want %q", lastLine(r.stderr), want)
	}
	if n := strings.Count(r.stderr, "no message sent"); n != 1 {
		t.Errorf("the error is printed %d times: %s", n, r.stderr)
	}
	if n := topicRecords(t, cl, "allbad"); n != 0 {
		t.Errorf("%d records stored", n)
	}
	// Empty input is not invalid input: nothing to send is still exit 0.
	if r := newCLI(t).runIn(nil, "produce", "allbad", "--url", k.URL, "--format", "jsonl", "--skip-invalid"); r.code != 0 {
		t.Errorf("empty input: %+v", r)
	}
}
