package cmd_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// retryBroker is one broker set up for the delayed-retry tests: a source
// with its URL, the flags the run needs there, and how to publish to the
// source and count what reached the dead-letter destination.
type retryBroker struct {
	url, source, dlq string
	// dest is MQ_DESTINATION of a message published to the source.
	dest    string
	args    []string
	publish func(values ...string)
	dead    func() int
	// parked says how many messages wait in the broker's waiting place
	// for delay (-1 where they cannot be counted from outside).
	parked func(delay string) int
	// quiet is how long a run after a kill -9 waits for messages: longer
	// where the killed member holds its partitions until its session
	// expires (Kafka, 10s).
	quiet string
}

func rabbitRetryBroker(t *testing.T) retryBroker {
	u, ch := rabbitQueue(t, "work", nil)
	if _, err := ch.QueueDeclare("work.dlq", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	return retryBroker{
		url: u, source: "work", dlq: "work.dlq", dest: "work",
		publish: func(values ...string) { publishAMQP(t, ch, "work", values...) },
		dead:    func() int { return queueDepth(t, ch, "work.dlq") },
		parked:  func(delay string) int { return queueDepth(t, ch, "work.retry."+delay) },
		quiet:   "5s",
	}
}

func natsRetryBroker(t *testing.T) retryBroker {
	srv, js, _ := natsStream(t, "JOBS", []string{"jobs.>"}, "jobs.a", 0)
	ctx := context.Background()
	dlq, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "JOBSDLQ", Subjects: []string{"dlq.jobs"}})
	if err != nil {
		t.Fatal(err)
	}
	return retryBroker{
		url: srv.URL, source: "JOBS", dlq: "dlq.jobs", dest: "jobs.a", args: []string{"--consumer", "worker"},
		publish: func(values ...string) {
			for _, v := range values {
				if _, err := js.Publish(ctx, "jobs.a", []byte(v)); err != nil {
					t.Fatal(err)
				}
			}
		},
		dead: func() int {
			info, err := dlq.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return int(info.State.Msgs)
		},
		parked: func(string) int { return -1 },
		quiet:  "5s",
	}
}

func kafkaRetryBroker(t *testing.T) retryBroker {
	k, cl := kafkaTopic(t, "work", 1, nil)
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "work.dlq"); err != nil {
		t.Fatal(err)
	}
	// end - committed of group g on topic (its end when g committed nothing).
	behind := func(topic string) int {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		commits, _ := adm.FetchOffsets(ctx, "g")
		n := 0
		ends.Each(func(l kadm.ListedOffset) {
			n += int(l.Offset)
			if c, ok := commits.Lookup(l.Topic, l.Partition); ok && c.At > 0 {
				n -= int(c.At)
			}
		})
		return n
	}
	return retryBroker{
		url: k.URL, source: "work", dlq: "work.dlq", dest: "work", args: []string{"--group", "g"},
		publish: func(values ...string) {
			for _, v := range values {
				if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "work", Value: []byte(v)}).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
		},
		dead: func() int {
			ends, err := adm.ListEndOffsets(ctx, "work.dlq")
			if err != nil {
				t.Fatal(err)
			}
			l, _ := ends.Lookup("work.dlq", 0)
			return int(l.Offset)
		},
		parked: func(delay string) int { return behind("work.retry." + delay) },
		quiet:  "15s",
	}
}

var retryBrokers = map[string]func(*testing.T) retryBroker{
	"rabbitmq": rabbitRetryBroker,
	"nats":     natsRetryBroker,
	"kafka":    kafkaRetryBroker,
}

// retryHandler logs every run as "VALUE ATTEMPT" to $RUNS, fails "flaky"
// before its third attempt and "bad" always, and prints what it handled.
const retryHandler = `v=$(cat); echo "$v $MQ_ATTEMPT" >> "$RUNS"
case "$v" in flaky) [ "$MQ_ATTEMPT" -ge "${PASS_AT:-3}" ] || exit 1;; bad) exit 2;; esac
echo "$v $MQ_ATTEMPT $MQ_DESTINATION"`

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// A handler that fails twice and then succeeds is handled once, as
// attempts 1, 2 and 3, while the other messages go on meanwhile; one that
// always fails goes to the final action after the last delay.
func TestConsumeDelayedRetries(t *testing.T) {
	for name, setup := range retryBrokers {
		t.Run(name, func(t *testing.T) {
			b := setup(t)
			b.publish("flaky", "bad", "ok-1", "ok-2", "ok-3", "ok-4")
			runs := filepath.Join(t.TempDir(), "runs")
			c := newCLI(t)
			c.env = []string{"RUNS=" + runs}
			// 3 runs of flaky, 3 of bad, 4 of the others.
			args := append([]string{"consume", b.source, "--url", b.url, "-n", "10", "--exec", retryHandler,
				"--on-fail", "retry=1s,1s,dead-letter=" + b.dlq}, b.args...)
			r := c.run(args...)
			if r.code != 3 || !strings.Contains(r.stderr, "handled 5") || !strings.Contains(r.stderr, "delayed 4") ||
				!strings.Contains(r.stderr, "dead-lettered 1") || !strings.Contains(r.stderr, "failed 1") {
				t.Fatalf("consume: code %d stderr %q", r.code, r.stderr)
			}
			out := strings.Split(strings.TrimSpace(r.stdout), "\n")
			if len(out) != 5 || out[4] != "flaky 3 "+b.dest {
				t.Fatalf("handled %q: want the four ok-N at attempt 1, then flaky once at attempt 3", out)
			}
			for _, line := range out[:4] {
				if !strings.HasPrefix(line, "ok-") || !strings.Contains(line, " 1 ") {
					t.Errorf("handled %q before flaky: want ok-N at attempt 1 (not held up by the wait)", line)
				}
			}
			var flaky, bad []string
			for _, l := range readLines(t, runs) {
				if v, attempt, _ := strings.Cut(l, " "); v == "flaky" {
					flaky = append(flaky, attempt)
				} else if v == "bad" {
					bad = append(bad, attempt)
				}
			}
			if !slices.Equal(flaky, []string{"1", "2", "3"}) || !slices.Equal(bad, []string{"1", "2", "3"}) {
				t.Errorf("attempts: flaky %v, bad %v; want 1 2 3 each", flaky, bad)
			}
			if n := b.dead(); n != 1 {
				t.Errorf("%d messages in %s, want bad", n, b.dlq)
			}
			if n := b.parked("1s"); n > 0 {
				t.Errorf("%d messages still parked", n)
			}
		})
	}
}

// kill -9 while a message waits loses nothing: the next run gets it.
func TestConsumeDelayedRetryKill9(t *testing.T) {
	for name, setup := range retryBrokers {
		t.Run(name, func(t *testing.T) {
			t.Parallel() // each broker its own; the time is the brokers' waits
			b := setup(t)
			b.publish("flaky")
			runs := filepath.Join(t.TempDir(), "runs")
			c := newCLI(t)
			c.env = []string{"RUNS=" + runs, "PASS_AT=2"}
			args := append([]string{"consume", b.source, "--url", b.url, "--exec", retryHandler, "--on-fail", "retry=2s,stop"}, b.args...)
			cmd := c.command(context.Background(), args...)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(testenv.Deadline(20 * time.Second))
			for readLines(t, runs)[0] != "flaky 1" && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			// Once the handler ran, the message is either still unacked
			// in the source or parked: never gone.
			time.Sleep(100 * time.Millisecond)
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			if readLines(t, runs)[0] != "flaky 1" {
				t.Fatal("the handler did not run")
			}
			c.env = []string{"RUNS=" + runs, "PASS_AT=1"}
			// Kafka commits once a second: a kill just after the park can
			// leave the source record uncommitted beside its copy, which
			// is then handled twice (at least once, never lost). So the
			// second run takes what comes until the broker is quiet for
			// longer than the delay.
			r := c.run(append([]string{"consume", b.source, "--url", b.url, "--idle-timeout", b.quiet, "--exec", retryHandler, "--on-fail", "retry=2s,stop"}, b.args...)...)
			if r.code != 0 || !strings.HasPrefix(r.stdout, "flaky ") {
				t.Fatalf("second run: code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
			}
			if n := b.parked("2s"); n > 0 {
				t.Errorf("%d messages still parked", n)
			}
		})
	}
}

// What cannot work is refused before anything is consumed (exit 2).
func TestConsumeDelayedRetryRefused(t *testing.T) {
	k, _ := kafkaTopic(t, "t", 1, nil)
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	c := newCLI(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"consume", "t", "--url", k.URL, "--exec", "cat", "--on-fail", "retry=1s"}, "need --group"},
		{[]string{"consume", "x", "--url", srv.URL, "--core", "--exec", "cat", "--on-fail", "retry=1s"}, "core NATS has no acknowledgement"},
		{[]string{"consume", "t", "--url", k.URL, "--group", "g", "--exec", "cat", "--retries", "2", "--on-fail", "retry=1s"}, "--retries does not go with"},
		{[]string{"consume", "t", "--url", k.URL, "--group", "g", "--exec", "cat", "--on-fail", "retry=1s,drop"}, "after the delays"},
	} {
		r := c.run(tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: code %d stderr %q, want 2 and %q on one line", tc.args, r.code, r.stderr, tc.want)
		}
	}
}
