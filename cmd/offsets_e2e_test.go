package cmd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/testenv"
)

// committedOffsets reads group's committed offsets on orders with kadm.
func committedOffsets(t *testing.T, cl *kgo.Client, group string) map[int32]int64 {
	t.Helper()
	return testenv.CommittedOffsets(t, kadm.NewClient(cl), group, "orders")
}

type planJSON struct {
	Group    string `json:"group"`
	To       string `json:"to"`
	Members  int    `json:"members"`
	Executed bool   `json:"executed"`
	Rows     []struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Current   *int64 `json:"current"`
		New       int64  `json:"new"`
		Change    *int64 `json:"change"`
		LagAfter  int64  `json:"lag_after"`
		Clamped   string `json:"clamped"`
	} `json:"partitions"`
}

func TestOffsetsResetKafka(t *testing.T) {
	k, cl := lagGroup(t) // orders: 3 x 10 records; billing at 4, 7, 10
	c := newCLI(t)
	c.env = []string{"MQCTL_URL=" + k.URL}

	// The plan: a table (tab-separated in a pipe), nothing changed.
	r := c.run("offsets", "reset", "billing", "--to", "earliest")
	if r.code != 0 {
		t.Fatalf("plan: %+v", r)
	}
	want := "TOPIC\tPARTITION\tCURRENT\tNEW\tCHANGE\tLAG AFTER\norders\t0\t4\t0\t-4\t10\norders\t1\t7\t0\t-7\t10\norders\t2\t10\t0\t-10\t10\n"
	if r.stdout != want {
		t.Errorf("plan table:\n%s\nwant:\n%s", r.stdout, want)
	}
	if !strings.Contains(r.stderr, "plan only, nothing changed; --execute will commit the new offsets for group billing") {
		t.Errorf("plan stderr: %q", r.stderr)
	}
	if got := committedOffsets(t, cl, "billing"); got[0] != 4 || got[1] != 7 || got[2] != 10 {
		t.Fatalf("a plan moved the offsets: %v", got)
	}

	// JSON, some partitions, clamped to the high watermark.
	r = c.run("offsets", "reset", "billing", "--to", "25", "--topic", "orders:0,2", "-o", "json")
	var p planJSON
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil || r.code != 0 {
		t.Fatalf("plan -o json: %+v (%v)", r, err)
	}
	if p.Group != "billing" || p.To != "25" || p.Executed || len(p.Rows) != 2 ||
		p.Rows[0].Partition != 0 || p.Rows[0].New != 10 || p.Rows[0].Clamped != "high watermark" || *p.Rows[0].Change != 6 ||
		p.Rows[1].Partition != 2 || p.Rows[1].New != 10 || p.Rows[1].Clamped != "high watermark" || *p.Rows[1].Change != 0 || p.Rows[1].LagAfter != 0 {
		t.Errorf("plan json: %s", r.stdout)
	}
	if !strings.Contains(r.stderr, "note: 2 of 2 partitions clamped to [log start, high watermark]") {
		t.Errorf("no clamp note: %q", r.stderr)
	}

	// --execute applies the same computation; kadm reads it back.
	r = c.run("offsets", "reset", "billing", "--to", "shift=-3", "--execute", "-o", "json")
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil || r.code != 0 || !p.Executed {
		t.Fatalf("execute: %+v (%v)", r, err)
	}
	if got := committedOffsets(t, cl, "billing"); got[0] != 1 || got[1] != 4 || got[2] != 7 {
		t.Errorf("after shift=-3: %v, want 1, 4, 7", got)
	}
	for i, row := range p.Rows {
		if row.New != []int64{1, 4, 7}[i] {
			t.Errorf("executed plan row %d: %+v", i, row)
		}
	}
	if !strings.Contains(r.stderr, "executed: commit the new offsets for group billing (3 partitions)") {
		t.Errorf("execute stderr: %q", r.stderr)
	}

	// A time in the future is the high watermark; a duration ago before
	// every record is the start.
	r = c.run("offsets", "reset", "billing", "--to", time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "--topic", "orders:1", "--execute")
	if r.code != 0 {
		t.Fatalf("execute time: %+v", r)
	}
	if got := committedOffsets(t, cl, "billing"); got[0] != 1 || got[1] != 10 || got[2] != 7 {
		t.Errorf("after --to a future time on orders:1: %v, want 1, 10, 7", got)
	}
	r = c.run("offsets", "reset", "billing", "--to", "latest", "--topic", "orders", "--execute")
	if got := committedOffsets(t, cl, "billing"); r.code != 0 || got[0] != 10 || got[1] != 10 || got[2] != 10 {
		t.Errorf("after --to latest: %v (%+v)", got, r)
	}
}

func TestOffsetsResetKafkaRefusals(t *testing.T) {
	k, cl := lagGroup(t)
	c := newCLI(t)
	c.env = []string{"MQCTL_URL=" + k.URL}
	cases := []struct {
		name    string
		args    []string
		code    int
		mention string
	}{
		{"no --to", []string{"billing"}, 2, "exactly one of --to, --to-seq or --to-time"},
		{"two targets", []string{"billing", "--to", "1", "--to-time", "1h"}, 2, "exactly one of --to"},
		{"bad --to", []string{"billing", "--to", "soon"}, 2, "--to soon: want earliest, latest"},
		{"negative offset", []string{"billing", "--to", "-3"}, 2, "shift=-3 moves back"},
		{"bad --topic", []string{"billing", "--to", "earliest", "--topic", "orders:x"}, 2, `partition "x"`},
		{"JetStream flag", []string{"billing", "--to-seq", "5"}, 2, "--to-seq applies to nats only, and this context is kafka"},
		{"unknown group", []string{"nobody", "--to", "earliest"}, 5, "consumer group nobody does not exist"},
		{"unknown topic", []string{"billing", "--to", "earliest", "--topic", "nope"}, 5, "topic nope does not exist"},
		{"partition that does not exist", []string{"billing", "--to", "earliest", "--topic", "orders:1,9"}, 5, "topic orders has no partition 9 (it has 0-2)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := c.run(append([]string{"offsets", "reset"}, tc.args...)...)
			expectError(t, r, tc.code, tc.mention)
			if r.stdout != "" {
				t.Errorf("stdout on a refusal: %q", r.stdout)
			}
		})
	}

	// A live member: refused, plan or not, naming the count.
	member, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...), kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders"), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(testenv.Deadline(10 * time.Second))
	for {
		poll, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		member.PollFetches(poll)
		cancel()
		d, err := adm.DescribeGroups(context.Background(), "billing")
		if err == nil && d["billing"].State == "Stable" && len(d["billing"].Members) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group billing never became stable: %+v %v", d, err)
		}
	}
	for _, args := range [][]string{{"--to", "earliest"}, {"--to", "earliest", "--execute"}} {
		r := c.run(append([]string{"offsets", "reset", "billing"}, args...)...)
		expectError(t, r, 2, "group billing has 1 live member: stop its consumers first")
	}
	if got := committedOffsets(t, cl, "billing"); got[0] != 4 || got[1] != 7 || got[2] != 10 {
		t.Errorf("a refused reset moved the offsets: %v", got)
	}
}

func TestOffsetsResetRabbitMQRefused(t *testing.T) {
	rmq := testenv.RabbitMQ(t)
	c := newCLI(t)
	c.env = []string{"MQCTL_URL=" + rmq.AMQPURL}
	r := c.run("offsets", "reset", "anything", "--to", "earliest")
	expectError(t, r, 2, "resetting consumer offsets is not supported on rabbitmq: a queue keeps no consumer position to move")
}

func TestOffsetsResetJetStream(t *testing.T) {
	srv, js := natsJetStream(t)
	ctx := context.Background()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		if _, err := js.Publish(ctx, "orders.new", fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "worker", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	c := newCLI(t)
	c.env = []string{"MQCTL_URL=" + srv.URL}
	values := func(jsonl string) []string {
		var out []string
		for line := range strings.Lines(jsonl) {
			var m struct{ Value string }
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("consume output %q: %v", line, err)
			}
			out = append(out, m.Value)
		}
		return out
	}
	if r := c.run("consume", "ORDERS", "--consumer", "worker", "-n", "12", "-o", "jsonl"); r.code != 0 || len(values(r.stdout)) != 12 {
		t.Fatalf("consume 12: %+v", r)
	}

	r := c.run("offsets", "reset", "worker", "--to-seq", "4")
	want := "STREAM\tCURRENT\tNEW\tCHANGE\tLAG AFTER\nORDERS\t13\t4\t-9\t17\n"
	if r.code != 0 || r.stdout != want {
		t.Fatalf("plan: %+v\nwant stdout %q", r, want)
	}
	if !strings.Contains(r.stderr, "--execute will reset consumer worker of stream ORDERS in place") {
		t.Errorf("plan stderr: %q", r.stderr)
	}
	if ci, err := s.Consumer(ctx, "worker"); err != nil || ci.CachedInfo().AckFloor.Stream != 12 {
		t.Fatalf("a plan moved the consumer: %+v %v", ci.CachedInfo().AckFloor, err)
	}

	// A sequence past the stream's end is clamped to it, in the stream's words.
	r = c.run("offsets", "reset", "worker", "--to-seq", "999", "-o", "json")
	var clamped planJSON
	if err := json.Unmarshal([]byte(r.stdout), &clamped); err != nil || r.code != 0 || clamped.Rows[0].New != 21 || clamped.Rows[0].Clamped != "stream end" ||
		!strings.Contains(r.stderr, "note: the new sequence is clamped to the stream's [first sequence, last sequence + 1]") || strings.Contains(r.stderr, "partition") {
		t.Fatalf("plan past the end: %+v (%v)", r, err)
	}

	r = c.run("offsets", "reset", "worker", "--to-seq", "4", "--topic", "ORDERS", "--execute")
	if r.code != 0 || !strings.Contains(r.stderr, "executed: reset consumer worker of stream ORDERS in place") || strings.Contains(r.stderr, "partition") {
		t.Fatalf("execute: %+v", r)
	}
	if got := values(c.run("consume", "ORDERS", "--consumer", "worker", "-n", "3", "-o", "jsonl").stdout); strings.Join(got, ",") != "m4,m5,m6" {
		t.Errorf("after --to-seq 4 the durable read %v, want m4,m5,m6", got)
	}

	m10, err := s.GetMsg(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	r = c.run("offsets", "reset", "worker", "--to-time", m10.Time.Format(time.RFC3339Nano), "--execute", "-o", "json")
	var p planJSON
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil || r.code != 0 || !p.Executed || p.Rows[0].New != 10 || *p.Rows[0].Current != 7 {
		t.Fatalf("--to-time: %+v (%v)", r, err)
	}
	if got := values(c.run("consume", "ORDERS", "--consumer", "worker", "-n", "1", "-o", "jsonl").stdout); len(got) != 1 || got[0] != "m10" {
		t.Errorf("after --to-time of message 10 the durable read %v", got)
	}

	// A deliver-new durable cannot be reset in place: it is recreated.
	if _, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "late", DeliverPolicy: jetstream.DeliverNewPolicy, AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	r = c.run("offsets", "reset", "late", "--to-seq", "2", "--execute")
	if r.code != 0 || !strings.Contains(r.stderr, "executed: delete consumer late of stream ORDERS and create it again with the same configuration but deliver policy by_start_sequence") {
		t.Fatalf("recreate: %+v", r)
	}
	if got := values(c.run("consume", "ORDERS", "--consumer", "late", "-n", "1", "-o", "jsonl").stdout); len(got) != 1 || got[0] != "m2" {
		t.Errorf("after recreating late at 2 it read %v", got)
	}

	for _, tc := range []struct {
		args    []string
		code    int
		mention string
	}{
		{[]string{"nobody", "--to-seq", "1"}, 5, "no stream has a consumer named nobody"},
		{[]string{"worker", "--to-seq", "0"}, 2, "--to-seq 0: a stream sequence is 1 or more"},
		{[]string{"worker", "--to-time", "12"}, 2, "--to-time 12: want an RFC 3339 time"},
		{[]string{"worker", "--to", "1", "--topic", "ORDERS:0"}, 2, "a JetStream stream has no partitions"},
	} {
		expectError(t, c.run(append([]string{"offsets", "reset"}, tc.args...)...), tc.code, tc.mention)
	}
}
