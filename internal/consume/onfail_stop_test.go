package consume

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// failingHandler logs each message's Kafka offset, stream sequence or
// message id to DIR/ran and fails.
func failingHandler(dir string) string {
	return `cat >/dev/null; echo "${MQ_OFFSET:-${MQ_STREAM_SEQ:-$MQ_MESSAGE_ID}}" >>` + dir + `/ran; exit 1`
}

// runStop runs failingHandler with --on-fail stop, one handler, over a
// consumer of o; it returns the ids the handler ran for, the stats and
// Run's error.
func runStop(t *testing.T, ctx context.Context, conn broker.Conn, brokerName string, o broker.ConsumerOptions) ([]string, *Stats, error) {
	t.Helper()
	c := openConsumer(t, ctx, conn, o)
	dir := t.TempDir()
	st := &Stats{}
	err := Run(ctx, c, io.Discard, st, Options{
		Broker: brokerName, Concurrency: 1, OnFail: OnFail{Kind: "stop"},
		Exec: &Exec{Command: failingHandler(dir), Broker: brokerName, Stdout: io.Discard, Stderr: io.Discard},
	})
	b, rerr := os.ReadFile(filepath.Join(dir, "ran"))
	if rerr != nil {
		t.Fatal(rerr)
	}
	return strings.Fields(string(b)), st, err
}

// checkStopped fails t unless the run stopped at the first failure: the
// handler ran for first alone, the run is partial, and everything read
// was given back unhandled.
func checkStopped(t *testing.T, ran []string, st *Stats, err error, first string) {
	t.Helper()
	if len(ran) != 1 || ran[0] != first {
		t.Errorf("the handler ran for %v; want %s alone: --on-fail stop starts no handler after the first failure", ran, first)
	}
	if !mqerr.Is(err, mqerr.Partial) {
		t.Errorf("Run = %v, want partial (exit 3)", err)
	}
	if st.Failed.Load() != 1 || st.Handled.Load() != 0 || st.Acked.Load() != 0 || st.nacks.Load() != st.Read.Load() {
		t.Errorf("failed %d, handled %d, acked %d, nacked %d of %d read; want 1 failed and everything read nacked",
			st.Failed.Load(), st.Handled.Load(), st.Acked.Load(), st.nacks.Load(), st.Read.Load())
	}
	checkAddsUp(t, st.Summary(0), st.Read.Load())
}

// checkAddsUp fails t unless the --exec summary sum counts each message
// read once: handled, failed, delayed, nacked without a verdict
// (requeued, not committed or not handled), given back, filtered out.
// The counts inside "failed N (...)" say what became of the failed ones
// and are not added again.
func checkAddsUp(t *testing.T, sum string, read int64) {
	t.Helper()
	var total int64
	outside := regexp.MustCompile(`\([^)]*\)`).ReplaceAllString(sum, "")
	for _, m := range regexp.MustCompile(`(handled|failed|delayed|requeued|not committed|not handled|given back|filtered out) (\d+)`).FindAllStringSubmatch(outside, -1) {
		n, _ := strconv.ParseInt(m[2], 10, 64)
		total += n
	}
	if total != read {
		t.Errorf("summary %q counts %d messages, %d were read: each must be counted once", sum, total, read)
	}
}

// TestOnFailStopKafka: with --on-fail stop (Kafka's default) the first
// failed handler ends the run: no handler starts for the records after
// it, the failed record is not committed, and the summary says so
// rather than "requeued" (Kafka cannot requeue), and counts "handled",
// not "output".
func TestOnFailStopKafka(t *testing.T) {
	const n = 5
	for _, group := range []string{"", "billing"} {
		t.Run("group="+group, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			o := ordersTopic(t, 1)
			o.produce(t, ctx, 0, n)

			ran, st, err := runStop(t, ctx, o.open(t, ctx), "kafka", broker.ConsumerOptions{Sources: []string{"orders"}, Group: group, UntilEnd: true})
			checkStopped(t, ran, st, err, "0")
			sum := st.Summary(time.Second)
			// The failed record counts once, as failed; the others were
			// not started. Without a group nothing is committed at all.
			want := fmt.Sprintf(", handled 0, acked 0, not committed %d, failed 1 (not committed 1) in ", st.Read.Load()-1)
			if group == "" {
				want = fmt.Sprintf(", handled 0, nothing committed (no --group), not handled %d, failed 1 in ", st.Read.Load()-1)
			}
			if !strings.Contains(sum, want) {
				t.Errorf("summary %q; want %q", sum, want)
			}
			if group != "" {
				if got := o.committed(t, group); got[0] > 0 {
					t.Errorf("group %s committed %v; want nothing: offset 0 failed", group, got)
				}
			}
		})
	}
}

// TestOnFailStopJetStream: the same stop on JetStream, where the failed
// message is nacked for redelivery.
func TestOnFailStopJetStream(t *testing.T) {
	const n = 5
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := broker.Open(ctx, broker.Target{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	nc, err := nats.Connect(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "JOBS", Subjects: []string{"jobs"}}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := js.Publish(ctx, "jobs", []byte("m"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	ran, st, err := runStop(t, ctx, conn, "nats", broker.ConsumerOptions{Sources: []string{"JOBS"}, Prefetch: 10})
	checkStopped(t, ran, st, err, "1")
	if sum := st.Summary(time.Second); !strings.Contains(sum, "requeued") || !strings.Contains(sum, "handled 0") {
		t.Errorf("summary %q; want requeued and handled 0", sum)
	}
}

// TestOnFailStopRabbitMQ: the same stop on RabbitMQ.
func TestOnFailStopRabbitMQ(t *testing.T) {
	const n = 5
	env := testenv.RabbitMQ(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	j := jobsQueue(t, ctx, env, n)
	u, ch := j.url, j.ch
	conn, err := broker.Open(ctx, broker.Target{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ran, st, err := runStop(t, ctx, conn, "rabbitmq", broker.ConsumerOptions{Sources: []string{"jobs"}, Prefetch: 10})
	checkStopped(t, ran, st, err, "1")
	// Nothing was acked: all of them wait in the queue again.
	testenv.WaitQueue(t, ch, "jobs", 10*time.Second, func(q amqp.Queue) bool { return q.Messages == n })
}

// TestOnFailStopLetsRunningHandlersFinishKafka: with --concurrency 2, the
// handler of partition 1 is running when that of partition 0 fails: it
// finishes and its record is committed, and nothing else starts.
func TestOnFailStopLetsRunningHandlersFinishKafka(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	o := ordersTopic(t, 2)
	// Two records a partition: the dispatcher hands both out (one to the
	// handler, one waiting for it) whatever order they come in.
	for p := range int32(2) {
		o.produce(t, ctx, p, 2)
	}
	c := openConsumer(t, ctx, o.open(t, ctx), broker.ConsumerOptions{Sources: []string{"orders"}, Group: "billing", UntilEnd: true})
	// Partition 0 fails once partition 1's handler runs; that one waits
	// for DIR/release.
	dir := t.TempDir()
	handler := `cat >/dev/null; echo "$MQ_PARTITION/$MQ_OFFSET" >>` + dir + `/ran; ` +
		`if [ "$MQ_PARTITION" = 0 ]; then while [ ! -e ` + dir + `/p1 ]; do sleep 0.05; done; exit 1; fi; ` +
		`touch ` + dir + `/p1; while [ ! -e ` + dir + `/release ]; do sleep 0.05; done`
	st := &Stats{}
	ran := make(chan error, 1)
	go func() {
		ran <- Run(ctx, c, io.Discard, st, Options{
			Broker: "kafka", Concurrency: 2, OnFail: OnFail{Kind: "stop"},
			Exec: &Exec{Command: handler, Broker: "kafka", Stdout: io.Discard, Stderr: io.Discard},
		})
	}()
	// Released once partition 0's record was failed and nacked: the run
	// was stopped before that nack.
	for st.Requeued.Load() == 0 {
		select {
		case err := <-ran:
			t.Fatalf("Run = %v before the handler of partition 1 was released", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-ran; !mqerr.Is(err, mqerr.Partial) {
		t.Errorf("Run = %v, want partial (exit 3)", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "ran"))
	if err != nil {
		t.Fatal(err)
	}
	ids := strings.Fields(string(b))
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"0/0", "1/0"}) {
		t.Errorf("handlers ran for %v; want 0/0 and 1/0 alone", ids)
	}
	if st.Handled.Load() != 1 || st.Failed.Load() != 1 || st.Acked.Load() != 1 {
		t.Errorf("handled %d, failed %d, acked %d; want 1 each", st.Handled.Load(), st.Failed.Load(), st.Acked.Load())
	}
	if got := o.committed(t, "billing"); got[0] > 0 || got[1] != 1 {
		t.Errorf("group billing committed %v; want partition 1 at 1 and nothing on partition 0", got)
	}
}

// TestExecKafkaWithoutGroupSaysNothingCommitted: without a group nothing
// is committed, so nothing counts as acked, and the summary says why
// rather than "acked 3".
func TestExecKafkaWithoutGroupSaysNothingCommitted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	o := ordersTopic(t, 1)
	o.produce(t, ctx, 0, 3)
	c := openConsumer(t, ctx, o.open(t, ctx), broker.ConsumerOptions{Sources: []string{"orders"}, UntilEnd: true})
	st := &Stats{}
	if err := Run(ctx, c, io.Discard, st, Options{Broker: "kafka", Exec: &Exec{Command: "cat >/dev/null", Broker: "kafka"}}); err != nil {
		t.Fatal(err)
	}
	if sum, want := st.Summary(time.Second), "read 3, handled 3, nothing committed (no --group) in "; !strings.HasPrefix(sum, want) || st.Acked.Load() != 0 {
		t.Errorf("summary %q, acked %d; want %q and nothing acked", sum, st.Acked.Load(), want)
	}
}
