package cmd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
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
	r = c.run("lag")
	expectError(t, r, 1, "management API")
	// The driver says how to do without the API; said once (it was twice).
	if n := strings.Count(r.stderr, "name the queues"); n != 1 {
		t.Errorf("stderr says %d times to name the queues: %s", n, r.stderr)
	}
	r = c.run("lag", "--regex", "^"+queue+"$")
	expectError(t, r, 1, "name patterns")
	if n := strings.Count(r.stderr, "over AMQP"); n != 1 {
		t.Errorf("stderr says %d times to read queues over AMQP: %s", n, r.stderr)
	}
}

// publishTo puts n confirmed messages in queue (declared by the caller).
func publishTo(t *testing.T, rmq *testenv.RabbitMQEnv, queue string, n int) {
	t.Helper()
	conn, err := amqp.Dial(rmq.AMQPURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	for range n {
		c, err := ch.PublishWithDeferredConfirm("", queue, true, false, amqp.Publishing{Body: []byte("x")})
		if err != nil || !c.Wait() {
			t.Fatalf("publish to %s: %v", queue, err)
		}
	}
}

// jsonRows runs mqctl ARGS -o json and decodes the array it prints.
func jsonRows(t *testing.T, c *cli, args ...string) ([]map[string]any, result) {
	t.Helper()
	r := c.run(append(args, "-o", "json")...)
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("mqctl %v: %v\n%+v", args, err, r)
	}
	return rows, r
}

// Flags that mean nothing on the context's broker, or in the mode asked
// for, are refused with exit 2 and one line; they used to be ignored.
func TestLagRefusesFlagsThatDoNotApply(t *testing.T) {
	rmq := testenv.RabbitMQ(t)
	queue := queueWithMessages(t, rmq, "timelag", 3)
	n, js, _ := natsStream(t, "TL", []string{"tl.>"}, "tl.x", 4)
	if _, err := js.CreateOrUpdateConsumer(context.Background(), "TL", jetstream.ConsumerConfig{Durable: "worker", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
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

	// RabbitMQ's time lag is a classic queue's head timestamp: a queue
	// whose messages carry no timestamp lags without a time lag, and a
	// check with a time limit cannot judge it: UNKNOWN (3), as Nagios
	// wants, saying what is missing.
	rows, r := jsonRows(t, c, "-c", "r", "lag", queue, "--time-lag")
	if r.code != 0 || len(rows) != 1 || rows[0]["time_lag_seconds"] != nil {
		t.Errorf("rabbitmq --time-lag without timestamps: %+v", r)
	}
	r = c.run("-c", "r", "lag", queue, "--check", "--crit-time", "1m")
	if r.code != 3 || !strings.HasPrefix(r.stdout, "UNKNOWN ") || !strings.Contains(r.stdout, "missing=time_lag") {
		t.Errorf("--check --crit-time on rabbitmq: exit %d, %q", r.code, r.stdout)
	}

	// JetStream has it.
	rows, r = jsonRows(t, c, "-c", "n", "lag", "--time-lag")
	if r.code != 0 || len(rows) != 1 || rows[0]["time_lag_seconds"] == nil {
		t.Errorf("jetstream --time-lag: %+v", r)
	}

	// Across brokers each reads it where it can.
	rows, r = jsonRows(t, c, "-c", "r,n", "lag", queue, "TL", "--time-lag")
	if r.code != 0 || len(rows) != 2 || strings.Contains(r.stderr, "does not apply") {
		t.Errorf("-c r,n --time-lag: %+v", r)
	}

	for _, tc := range []struct {
		args    []string
		mention string
	}{
		{[]string{"lag", "--samples", "3"}, "--samples applies to --watch and --check --rules"},
		{[]string{"lag", "--interval", "1s"}, "--interval applies to --watch and --check --rules"},
		{[]string{"lag", "--warn", "5"}, "--warn applies to --check"},
		{[]string{"lag", "--crit-time", "1m"}, "--crit-time applies to --check"},
		{[]string{"lag", "--rules"}, "--rules applies to --check"},
		{[]string{"lag", "--all-contexts", "-c", "r"}, "--all-contexts and -c exclude each other"},
		{[]string{"lag", "-c", "r,n", "--url", n.URL}, "--url names one broker"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			expectError(t, c.run(append([]string{"-c", "r"}, tc.args...)...), 2, tc.mention)
		})
	}
	// In --check mode a refusal is UNKNOWN (3), as Nagios wants.
	if r := c.run("-c", "r", "lag", "--check", "--warn", "5", "-o", "json"); r.code != 3 || !strings.Contains(r.stdout, "-o json does not apply") {
		t.Errorf("--check -o json: exit %d, %q", r.code, r.stdout)
	}
	if r := c.run("-c", "r", "lag", "--check", "--warn", "5", "--samples", "3"); r.code != 3 || !strings.Contains(r.stdout, "--samples applies to --watch and --check --rules") {
		t.Errorf("--check --samples without --rules: exit %d, %q", r.code, r.stdout)
	}

	// ls --internal means something on Kafka only.
	expectError(t, c.run("-c", "r", "ls", "--internal"), 2, "--internal: rabbitmq has no internal queues")
	expectError(t, c.run("-c", "n", "ls", "--internal"), 2, "--internal: nats has no internal streams")
}

// Right after messages are published the management API has no figures
// for a new queue, or old ones for a known queue (it samples every 5 s):
// named queues are read exactly, and figures that are unknown or behind
// are marked, never shown as 0.
func TestLagRabbitMQStatsAge(t *testing.T) {
	rmq := testenv.RabbitMQ(t)
	c := newCLI(t)
	if r := c.run("context", "add", "r", "--url", rmq.AMQPURL, "--management-url", rmq.APIURL); r.code != 0 {
		t.Fatal(r.stderr)
	}

	// A new queue: publish and list at once.
	fresh := queueWithMessages(t, rmq, "fresh", 101)
	rows, r := jsonRows(t, c, "lag", fresh)
	if r.code != 0 || len(rows) != 1 || rows[0]["lag"] != 101.0 || rows[0]["ready"] != 101.0 ||
		(rows[0]["stats"] != "exact" && rows[0]["stats"] != "behind") {
		t.Fatalf("lag %s right after 101 were published: %+v", fresh, r)
	}
	ds, r := jsonRows(t, c, "ls", fresh)
	if r.code != 0 || len(ds) != 1 || ds[0]["ready"] != 101.0 || ds[0]["messages"] != 101.0 {
		t.Fatalf("ls %s right after 101 were published: %+v", fresh, r)
	}
	// Unnamed, the API's figures are all there is: when it has none, the
	// row says so instead of showing an empty queue.
	another := queueWithMessages(t, rmq, "another", 7)
	ds, r = jsonRows(t, c, "ls")
	for _, d := range ds {
		if d["name"] != another {
			continue
		}
		if _, known := d["ready"]; known {
			t.Logf("the API had figures for %s already: %v", another, d)
			break
		}
		if d["stats"] != "absent" || !strings.Contains(r.stderr, "no figures yet for \""+another+"\"") {
			t.Errorf("ls: a queue without figures is not marked: %v; stderr %q", d, r.stderr)
		}
		// The table is another read: the API may have its figures by then.
		table := c.run("ls")
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(another) + `\t[^\t]*\t(\?\t\?\t\?\t\?\tabsent|\d+\t\d+\t\d+\t\d+(\t[^\t]*)?)$`).MatchString(table.stdout) {
			t.Errorf("ls table: %q", table.stdout)
		}
	}

	// A known queue whose figures the API has: publish more and read at
	// once. The named queue's count is exact whether or not the API has
	// caught up, and "behind" says when it had not.
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows, _ := jsonRows(t, c, "lag", "--regex", "^"+regexp.QuoteMeta(fresh)+"$")
		if len(rows) == 1 && rows[0]["ready"] == 101.0 && rows[0]["stats"] == "sampled" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API never showed 101 ready for %s: %v", fresh, rows)
		}
		time.Sleep(250 * time.Millisecond)
	}
	publishTo(t, rmq, fresh, 99)
	rows, r = jsonRows(t, c, "lag", fresh)
	if r.code != 0 || len(rows) != 1 || rows[0]["ready"] != 200.0 || rows[0]["lag"] != 200.0 {
		t.Fatalf("lag %s right after 99 more: %+v", fresh, r)
	}
	if rows[0]["stats"] == "behind" && !strings.Contains(r.stderr, "were behind") {
		t.Errorf("behind, and stderr does not say so: %q", r.stderr)
	}
}

// A context that does not answer makes the exit code 3 and is listed in
// the output; a NAME that selects nothing exits 5 naming it.
func TestLagFailedContextAndMissingNames(t *testing.T) {
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
	rows, r := jsonRows(t, c, "lag", "-c", "good,bad")
	var good int
	var failed []map[string]any
	for _, row := range rows {
		switch {
		case row["kind"] == "error":
			failed = append(failed, row)
		case row["context"] == "good":
			good++
		}
	}
	if r.code != 3 || good != 3 || len(failed) != 1 || failed[0]["context"] != "bad" || failed[0]["error"] == "" {
		t.Errorf("-o json with a failed context: exit %d, %d rows of good, failures %v\n%s", r.code, good, failed, r.stderr)
	}
	if !strings.Contains(r.stderr, "1 of 2 contexts did not answer: bad") {
		t.Errorf("stderr: %q", r.stderr)
	}
	r = c.run("lag", "-c", "good,bad", "-o", "prometheus")
	if r.code != 3 || !strings.Contains(r.stdout, `mqctl_context_up{context="bad"} 0`) || !strings.Contains(r.stdout, `mqctl_context_up{context="good"} 1`) ||
		!strings.Contains(r.stdout, `mqctl_lag_messages{broker="kafka",context="good",group="billing",partition="0",topic="orders"} 6`) {
		t.Errorf("-o prometheus with a failed context: %+v", r)
	}
	r = c.run("lag", "-c", "good,nosuch")
	if r.code != 3 || !strings.Contains(r.stdout, "billing") || !strings.Contains(r.stderr, `context "nosuch" does not exist`) {
		t.Errorf("a listed context that does not exist: %+v", r)
	}
	r = c.run("lag", "-c", "good,bad", "--check", "--crit", "1000000")
	if r.code != 3 || !strings.Contains(r.stdout, "no answer from bad") {
		t.Errorf("--check: %+v", r)
	}

	expectError(t, c.run("-c", "good", "lag", "nope"), 5, `nothing to report for "nope"`)
	expectError(t, c.run("-c", "good", "lag", "--regex", "^zz"), 5, `no consumer group, queue or stream matches "^zz"`)
	r = c.run("-c", "good", "lag", "billing", "nope")
	if r.code != 5 || !strings.Contains(r.stdout, "billing") || !strings.Contains(r.stderr, `"nope"`) || strings.Contains(r.stderr, "billing") {
		t.Errorf("one NAME found, one not: %+v", r)
	}
	r = c.run("-c", "good", "lag", "nope", "--check", "--warn", "1")
	if r.code != 3 || !strings.HasPrefix(r.stdout, "UNKNOWN") {
		t.Errorf("--check on a NAME that selects nothing: %+v", r)
	}
}

// Unnamed queues show the management API's sampled counts: JSON says
// "sampled" in each row, the table ends with one escaped note on stderr.
func TestLagRabbitMQSampledNote(t *testing.T) {
	rmq := testenv.RabbitMQ(t)
	queue := testenv.UniqueName(t, "sampled") + "\x1b[2J\u202e"
	conn, err := amqp.Dial(rmq.AMQPURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(queue, false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	publishTo(t, rmq, queue, 5)
	c := newCLI(t)
	if r := c.run("context", "add", "r", "--url", rmq.AMQPURL, "--management-url", rmq.APIURL); r.code != 0 {
		t.Fatal(r.stderr)
	}
	only := "^" + regexp.QuoteMeta(queue) + "$"
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows, r := jsonRows(t, c, "lag", "--regex", only)
		if len(rows) == 1 && rows[0]["ready"] == 5.0 && rows[0]["stats"] == "sampled" {
			if strings.Contains(r.stderr, "last sample") {
				t.Errorf("-o json carries \"stats\"; the note is for the table: %q", r.stderr)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API never showed 5 ready for %q: %v", queue, rows)
		}
		time.Sleep(250 * time.Millisecond)
	}
	r := c.run("lag", "--regex", only)
	want := "mqctl: note: the counts for " + strconv.Quote(queue) + " are the RabbitMQ management API's last sample"
	if r.code != 0 || !strings.Contains(r.stderr, want) || strings.ContainsAny(r.stderr, "\x1b\u202e") {
		t.Fatalf("exit %d, stderr %q, want %q", r.code, r.stderr, want)
	}
	// Named, the queue is read over AMQP: no such note.
	if r := c.run("lag", queue); r.code != 0 || strings.Contains(r.stderr, "last sample") {
		t.Fatalf("named: exit %d, stderr %q", r.code, r.stderr)
	}
}
