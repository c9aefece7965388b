package cmd_test

// More of issue 15's fault scenarios: kill -9 of `consume --exec` and of
// `dlq move` across brokers, and a RabbitMQ queue deleted under a replay.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/reliability"
)

// handledLines reads the values a handler appended to path, one a line.
func handledLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// kill -9 of `consume --exec` (the handler appends the value to a file,
// and mqctl acks after it exited 0) at a random moment, then a second run
// to the end: every message was handled at least once.
func TestReliabilityConsumeExecKill9(t *testing.T) {
	runs := reliability.Runs(t)
	s := reliability.Start(t, "kill -9 of `consume --exec` (ack after the handler), RabbitMQ")
	const n = 1000
	dir := t.TempDir()
	for run := range runs {
		u, ch := rabbitQueue(t, "jobs", nil)
		want := make([]string, n)
		for i := range want {
			want[i] = fmt.Sprintf("j%d-%d", run, i)
		}
		publishConfirmed(t, ch, "jobs", want)
		c := newCLI(t)
		c.env = []string{"MQCTL_URL=" + u}
		handled := filepath.Join(dir, fmt.Sprintf("handled-%d.txt", run))
		// One write per handler run (printf is a shell builtin), so lines
		// of concurrent handlers do not interleave.
		handler := fmt.Sprintf(`printf '%%s\n' "$(cat)" >> '%s'`, handled)
		args := []string{"consume", "jobs", "--exec", handler, "--concurrency", "4"}
		if killWhen(t, c.command(context.Background(), args...), fileHasData(handled), 1500*time.Millisecond) {
			s.Count("killed mid-run")
		}
		if got := len(handledLines(t, handled)); got > 0 && got < n {
			s.Count("killed with part of the queue handled")
		}
		waitConsumersGone(t, ch, "jobs")
		if r := c.run(append(args, "--until-end")...); r.code != 0 {
			t.Fatalf("second run: %+v", r)
		}
		if left := queueDepth(t, ch, "jobs"); left != 0 {
			t.Errorf("run %d: %d messages left in the queue after the second run", run, left)
		}
		record(t, s, want, handledLines(t, handled))
	}
	s.Note("%d messages per run, --concurrency 4 (prefetch 100), killed 0-1.5 s after the first handler wrote; second run --until-end; duplicated = handled twice", n)
}

// kill -9 of `dlq move` across brokers at a random moment: every dead
// letter is in the target or still in the source (Kafka: not committed by
// the move's group; RabbitMQ: back in the queue once the killed
// connection is gone).
func TestReliabilityDLQMoveKill9(t *testing.T) {
	runs := reliability.Runs(t)
	t.Run("kafka to rabbitmq", func(t *testing.T) {
		t.Parallel()
		s := reliability.Start(t, "kill -9 of `dlq move`, Kafka .DLT to a RabbitMQ queue")
		const n = 5000
		k, cl := kafkaTopic(t, "rel-setup", 1, nil)
		adm := kadm.NewClient(cl)
		for run := range runs {
			dlt := fmt.Sprintf("rel-move-%d.DLT", run)
			if _, err := adm.CreateTopic(context.Background(), 2, 1, nil, dlt); err != nil {
				t.Fatal(err)
			}
			want := make([]string, n)
			recs := make([]*kgo.Record, n)
			for i := range recs {
				want[i] = fmt.Sprintf("%s-%d", dlt, i)
				recs[i] = &kgo.Record{Topic: dlt, Value: []byte(want[i]), Headers: springHeaders("rel-move", int32(i%2), int64(i), "boom")}
			}
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			u, ch := rabbitQueue(t, "archive", nil)
			c := newCLI(t)
			if r := c.run("context", "add", "rabbit", "--url", u); r.code != 0 {
				t.Fatalf("context add: %+v", r)
			}
			started := func() bool { return queueDepth(t, ch, "archive") > 0 }
			if killWhen(t, c.command(context.Background(), "dlq", "move", dlt, "--url", k.URL, "--to-context", "rabbit", "--to", "archive", "--yes"), started, 300*time.Millisecond) {
				s.Count("killed mid-run")
			}
			moved := drainAMQP(t, ch, "archive")
			if len(moved) > 0 && len(moved) < n {
				s.Count("killed with part moved")
			}
			left := committed(t, cl, "mqctl-dlq", dlt)
			found := moved
			for _, rec := range readTopic(t, k.Addrs(), dlt, n) {
				if rec.Offset >= left[rec.Partition] {
					found = append(found, string(rec.Value))
				}
			}
			record(t, s, want, found)
		}
		s.Note("%d dead letters (Spring headers, 2 partitions) per run, killed 0-300 ms after the first reached the queue; found = the queue + the records the move's group had not committed; duplicated = in both", n)
	})
	t.Run("rabbitmq to jetstream", func(t *testing.T) {
		t.Parallel()
		s := reliability.Start(t, "kill -9 of `dlq move`, RabbitMQ DLQ to a JetStream stream")
		const n = 1000
		srv, js := natsJetStream(t)
		for run := range runs {
			u, ch := rabbitQueue(t, "work", amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "work.dlq"})
			if _, err := ch.QueueDeclare("work.dlq", true, false, false, false, nil); err != nil {
				t.Fatal(err)
			}
			want := make([]string, n)
			for i := range want {
				want[i] = fmt.Sprintf("mv%d-%d", run, i)
			}
			deadLetterAMQP(t, ch, "work", want...)
			waitDepth(t, ch, "work.dlq", n)
			stream, subject := fmt.Sprintf("RELMV%d", run), fmt.Sprintf("relmv%d.dead", run)
			if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: stream, Subjects: []string{subject}, Storage: jetstream.FileStorage}); err != nil {
				t.Fatal(err)
			}
			c := newCLI(t)
			c.env = []string{"MQCTL_URL=" + u}
			if r := c.run("context", "add", "nats", "--url", srv.URL); r.code != 0 {
				t.Fatalf("context add: %+v", r)
			}
			started := func() bool { return streamCount(t, js, stream) > 0 }
			if killWhen(t, c.command(context.Background(), "dlq", "move", "work.dlq", "--to-context", "nats", "--to", subject, "--yes"), started, 300*time.Millisecond) {
				s.Count("killed mid-run")
			}
			waitConsumersGone(t, ch, "work.dlq")
			moved := streamValues(t, js, stream)
			if len(moved) > 0 && len(moved) < n {
				s.Count("killed with part moved")
			}
			record(t, s, want, append(moved, drainAMQP(t, ch, "work.dlq")...))
		}
		s.Note("%d dead letters (x-death) per run, killed 0-300 ms after the first reached the stream; found = the stream + the DLQ once the killed connection is gone; duplicated = in both", n)
	})
}

// A RabbitMQ queue deleted under `dlq replay`: the target (the replay
// publishes mandatory, so the broker returns what it can no longer route)
// or the source. mqctl exits non-zero with one clear error line, and every
// dead letter is in the target (read as it arrives by the test, on its own
// connection), still in the source, or among the messages the deletion
// itself removed (the broker's count, reported in the notes).
func TestReliabilityRabbitMQQueueDeleted(t *testing.T) {
	runs := reliability.Runs(t)
	for _, which := range []string{"target", "source"} {
		t.Run(which, func(t *testing.T) {
			t.Parallel()
			s := reliability.Start(t, fmt.Sprintf("RabbitMQ %s queue deleted mid-`dlq replay`", which))
			const n = 1500
			var removed, excusedAll int
			for run := range runs {
				u, ch := rabbitQueue(t, "work", amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "work.dlq"})
				if _, err := ch.QueueDeclare("work.dlq", true, false, false, false, nil); err != nil {
					t.Fatal(err)
				}
				want := make([]string, n)
				for i := range want {
					want[i] = fmt.Sprintf("del%d-%d", run, i)
				}
				deadLetterAMQP(t, ch, "work", want...)
				waitDepth(t, ch, "work.dlq", n)
				tapped := tapQueue(t, u, "work")
				c := newCLI(t)
				c.env = []string{"MQCTL_URL=" + u}
				queue := map[string]string{"target": "work", "source": "work.dlq"}[which]
				var deleted int
				cmd := c.command(context.Background(), "dlq", "replay", "work.dlq", "--yes", "--rate", "1000", "--in-flight", fmt.Sprint(replayPrefetch))
				code, mid := runWithFault(t, cmd, "", between(200*time.Millisecond, 1000*time.Millisecond), func() {
					var err error
					if deleted, err = ch.QueueDelete(queue, false, false, false); err != nil {
						t.Fatal(err)
					}
				})
				removed += deleted
				stderr := cmd.Stderr.(*strings.Builder).String()
				if mid {
					s.Count("deleted mid-run")
					if code == 0 {
						t.Errorf("run %d: exit 0 after the %s queue was deleted mid-run; stderr: %s", run, which, stderr)
					}
					if !strings.Contains(lastLine(stderr), "work") {
						t.Errorf("run %d: the error does not name the queue: %q", run, lastLine(stderr))
					}
					s.Count(fmt.Sprintf("exit %d", code))
				}
				var found []string
				if which == "target" {
					waitConsumersGone(t, ch, "work.dlq")
					found = append(tapped(), drainAMQP(t, ch, "work.dlq")...)
				} else {
					found = tapped()
				}
				lost, dup, missing := lostAndDuplicated(want, found)
				t.Logf("run %d: exit %d, %d removed by the deletion, %d not found: %v; %s", run, code, deleted, lost, missing, lastLine(stderr))
				// What the deletion removed is the operator's doing; the
				// rest must be somewhere.
				gone := max(0, lost-deleted)
				excused := 0
				switch which {
				case "source":
					// Deleting the source also drops the deliveries mqctl
					// held unacked (at most --in-flight), which the
					// broker's count leaves out.
					excused = min(gone, replayPrefetch)
				case "target":
					excused = confirmedIntoDeleted(t, want, found, stderr)
				}
				excusedAll += excused
				s.Run(n, gone-excused, dup)
			}
			s.Note("%d dead letters per run, replay --rate 1000 --in-flight %d, the %s queue deleted after 0.2-1 s; %d messages removed by the deletions (the broker's count) not counted as lost", n, replayPrefetch, which, removed)
			switch which {
			case "source":
				s.Note("nor %d deliveries mqctl held unacked when its source went (at most %d a run)", excusedAll, replayPrefetch)
			case "target":
				s.Note("nor %d messages the broker confirmed while the queue was being deleted (routed to it, then dropped with it: amqp091-go alone sees the same): each run's were the ones just before the first returned message", excusedAll)
			}
		})
	}
}

// confirmedIntoDeleted counts the messages of want found nowhere that
// RabbitMQ itself dropped: while a queue is being deleted, a message
// routed to it is confirmed (basic.ack, no basic.return) and then removed
// with the queue; the messages after it come back unroutable. Those are the
// run of missing messages just before the first one mqctl reports as
// unroutable, at most --in-flight of them; a message missing anywhere else
// is not excused.
func confirmedIntoDeleted(t *testing.T, want, found []string, stderr string) int {
	t.Helper()
	m := regexp.MustCompile(`message m-(\d+): unroutable`).FindStringSubmatch(stderr)
	if m == nil {
		return 0
	}
	first, _ := strconv.Atoi(m[1])
	seen := map[string]bool{}
	for _, v := range found {
		seen[v] = true
	}
	n := 0
	for i := first - 1; i >= 0 && i >= first-replayPrefetch && !seen[want[i]]; i-- {
		n++
	}
	return n
}

// replayPrefetch is the replay's --in-flight when its queue is deleted.
const replayPrefetch = 100

// tapQueue consumes queue (auto-ack) on its own connection from now on;
// the returned function stops and returns the bodies received. Deleting
// the queue cancels the consumer; what it received stays.
func tapQueue(t *testing.T, u, queue string) func() []string {
	t.Helper()
	conn, err := amqp.Dial(u)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(queue, "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for d := range deliveries {
			got = append(got, string(d.Body))
		}
	}()
	return func() []string {
		// The deliveries already sent are read before the close.
		time.Sleep(500 * time.Millisecond)
		conn.Close()
		<-done
		return got
	}
}
