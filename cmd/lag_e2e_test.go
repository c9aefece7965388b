package cmd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// lagGroup fills topic "orders" (3 partitions, 10 records each) and commits
// group "billing" at 4, 7 and 10.
func lagGroup(t *testing.T) (*sandbox.Kafka, *kgo.Client) {
	t.Helper()
	k, cl := kafkaTopic(t, "orders", 3, nil)
	ctx := context.Background()
	var recs []*kgo.Record
	for p := range int32(3) {
		for i := range 10 {
			recs = append(recs, &kgo.Record{Topic: "orders", Partition: p, Value: fmt.Appendf(nil, "%d", i)})
		}
	}
	pcl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	if err := pcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	commit := kadm.Offsets{}
	for p, at := range []int64{4, 7, 10} {
		commit.Add(kadm.Offset{Topic: "orders", Partition: int32(p), At: at, LeaderEpoch: -1})
	}
	if err := kadm.NewClient(cl).CommitAllOffsets(ctx, "billing", commit); err != nil {
		t.Fatal(err)
	}
	return k, cl
}

func TestLagKafka(t *testing.T) {
	k, _ := lagGroup(t)
	c := newCLI(t)
	c.env = []string{"MQCTL_URL=" + k.URL}
	r := c.run("lag", "-o", "json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rows); r.code != 0 || err != nil {
		t.Fatalf("lag: %+v (%v)", r, err)
	}
	got := map[float64]float64{}
	for _, row := range rows {
		if row["group"] == "billing" && row["topic"] == "orders" {
			got[row["partition"].(float64)] = row["lag"].(float64)
		}
	}
	if got[0] != 6 || got[1] != 3 || got[2] != 0 || len(got) != 3 {
		t.Fatalf("lag per partition %v, want 0:6 1:3 2:0; rows %s", got, r.stdout)
	}

	prom := c.run("lag", "-o", "prometheus")
	if prom.code != 0 || !strings.Contains(prom.stdout, `mqctl_lag_messages{broker="kafka",group="billing",partition="0",topic="orders"} 6`) {
		t.Fatalf("prometheus: %+v", prom)
	}

	for _, tc := range []struct {
		args []string
		code int
		line string
	}{
		{[]string{"--warn", "100"}, 0, "OK"},
		{[]string{"--warn", "5", "--crit", "50"}, 1, "WARN group=billing topic=orders partition=0 lag=6"},
		{[]string{"--warn", "2", "--crit", "5"}, 2, "CRIT group=billing topic=orders partition=0 lag=6"},
	} {
		r := c.run(append([]string{"lag", "--check"}, tc.args...)...)
		first, _, _ := strings.Cut(r.stdout, "\n")
		if r.code != tc.code || !strings.HasPrefix(first, tc.line) {
			t.Errorf("--check %v: exit %d, first line %q; want %d, %q", tc.args, r.code, first, tc.code, tc.line)
		}
	}
	// A check that cannot run says UNKNOWN (3): Nagios reads 2 as CRITICAL.
	if r := c.run("lag", "--check"); r.code != 3 || !strings.HasPrefix(r.stdout, "UNKNOWN --check needs") {
		t.Errorf("--check without thresholds: exit %d, %q", r.code, r.stdout)
	}
	expectError(t, c.run("lag", "--regex", "("), 2, "--regex")
}

// A group that does not commit while records keep arriving is judged
// CRIT by --check --rules (STALL or STOP).
func TestLagKafkaRulesStuckGroup(t *testing.T) {
	k, cl := lagGroup(t)
	keepProducing(t, cl, "orders", 50*time.Millisecond)
	r := newCLI(t).run("lag", "billing", "--url", k.URL, "--check", "--rules", "--samples", "3", "--interval", "400ms")
	if r.code != 2 || !strings.HasPrefix(r.stdout, "CRIT group=billing") || !(strings.Contains(r.stdout, "STALL") || strings.Contains(r.stdout, "STOP")) {
		t.Fatalf("exit %d: %q %s", r.code, r.stdout, r.stderr)
	}
}

// queueWithMessages declares an auto-delete queue in the default vhost and
// puts n confirmed messages in it; the connection closes with t.
func queueWithMessages(t *testing.T, rmq *testenv.RabbitMQEnv, prefix string, n int) string {
	t.Helper()
	queue := testenv.UniqueName(t, prefix)
	conn, err := amqp.Dial(rmq.AMQPURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(queue, false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	for range n {
		c, err := ch.PublishWithDeferredConfirm("", queue, true, false, amqp.Publishing{Body: []byte("x")})
		if err != nil || !c.Wait() {
			t.Fatal(err)
		}
	}
	return queue
}

func TestLagRabbitMQAndNATSSideBySide(t *testing.T) {
	rmq := testenv.RabbitMQ(t)
	queue := queueWithMessages(t, rmq, "lagq", 7)

	n, js, _ := natsStream(t, "LAG", []string{"lag.>"}, "lag.x", 9)
	if _, err := js.CreateOrUpdateConsumer(context.Background(), "LAG", jetstream.ConsumerConfig{Durable: "worker", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}

	c := newCLI(t)
	for _, args := range [][]string{
		{"context", "add", "r", "--url", rmq.AMQPURL, "--management-url", rmq.APIURL},
		{"context", "add", "n", "--url", n.URL},
	} {
		if r := c.run(args...); r.code != 0 {
			t.Fatalf("%v: %+v", args, r)
		}
	}
	// Credentials from the environment are for a single target: applied
	// to the listed contexts, they would fail the RabbitMQ login.
	c.env = append(c.env, "MQCTL_USERNAME=intruder", "MQCTL_PASSWORD=not-for-every-broker")
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := c.run("lag", "-c", "r,n", "-o", "json", queue, "LAG")
		var rows []map[string]any
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rows) != nil {
			t.Fatalf("lag: %+v", r)
		}
		var queueLag, consumerLag float64 = -1, -1
		for _, row := range rows {
			switch {
			case row["context"] == "r" && row["queue"] == queue:
				queueLag = row["lag"].(float64)
			case row["context"] == "n" && row["stream"] == "LAG" && row["consumer"] == "worker":
				consumerLag = row["lag"].(float64)
			}
		}
		if queueLag == 7 && consumerLag == 9 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("want queue lag 7 and consumer lag 9 side by side, got %v and %v: %s", queueLag, consumerLag, r.stdout)
		}
		time.Sleep(time.Second)
	}
}

// A context that does not answer makes a --check UNKNOWN, never OK, and a
// check that cannot run at all is UNKNOWN (3), not CRITICAL (2).
func TestLagCheckUnknown(t *testing.T) {
	k, _ := lagGroup(t)
	c := newCLI(t)
	for _, args := range [][]string{
		{"context", "add", "good", "--url", k.URL},
		{"context", "add", "bad", "--url", fmt.Sprintf("kafka://127.0.0.1:%d", closedPort(t)), "--timeout", "1s"},
	} {
		if r := c.run(args...); r.code != 0 {
			t.Fatalf("%v: %s", args, r.stderr)
		}
	}
	r := c.run("lag", "--check", "-c", "good,bad", "--crit", "1000000")
	if r.code != 3 || !strings.HasPrefix(r.stdout, "UNKNOWN") || !strings.Contains(r.stdout, "no answer from bad") {
		t.Fatalf("exit %d: %q %s", r.code, r.stdout, r.stderr)
	}
	r = c.run("lag", "--check", "-c", "good", "--samples", "1", "--rules")
	if r.code != 3 || !strings.HasPrefix(r.stdout, "UNKNOWN --samples") {
		t.Fatalf("exit %d: %q", r.code, r.stdout)
	}
}

// Without the management API, queues named on the command line are read
// over AMQP, and mqctl says so; without names it explains what it needs.
func TestLagRabbitMQWithoutManagementAPI(t *testing.T) {
	rmq := testenv.RabbitMQ(t)
	queue := queueWithMessages(t, rmq, "nomgmt", 4)
	c := newCLI(t)
	dead := fmt.Sprintf("http://127.0.0.1:%d", closedPort(t))
	if r := c.run("context", "add", "r", "--url", rmq.AMQPURL, "--management-url", dead); r.code != 0 {
		t.Fatal(r.stderr)
	}
	r := c.run("lag", queue, "-o", "json")
	var rows []map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rows) != nil || len(rows) != 1 || rows[0]["ready"] != 4.0 {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "over AMQP") {
		t.Errorf("the fallback is not announced: %s", r.stderr)
	}
	expectError(t, c.run("lag"), 1, "management API")
}
