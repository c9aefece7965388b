package cmd

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/complete"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// completions runs cobra's hidden __complete command as a shell does and
// returns the candidates it printed, failing t if it did not end within
// the bound complete.Timeout allows.
func completions(t *testing.T, env map[string]string, args ...string) []string {
	t.Helper()
	start := time.Now()
	r := runInProcess(t, false, env, append([]string{"__complete"}, args...)...)
	if took := time.Since(start); took > testenv.Deadline(complete.Timeout) {
		t.Fatalf("completing %v took %s: a shell would hang", args, took)
	}
	if r.code != 0 {
		t.Fatalf("__complete %v: exit %d: %s", args, r.code, r.stderr)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if line != "" && !strings.HasPrefix(line, ":") {
			out = append(out, strings.SplitN(line, "\t", 2)[0])
		}
	}
	return out
}

func wantNames(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("completions %q, want %q", got, want)
	}
}

func TestCompleteKafkaTopicsAndGroups(t *testing.T) {
	k := testenv.Kafka(t, sandbox.KafkaOptions{Extra: []kfake.Opt{kfake.SeedTopics(1, "orders", "orders.DLT", "billing")}})
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 0})
	if _, err := kadm.NewClient(cl).CommitOffsets(context.Background(), "orders-app", offsets); err != nil {
		t.Fatal(err)
	}

	wantNames(t, completions(t, nil, "ls", "--url", k.URL, ""), "billing", "orders", "orders.DLT")
	wantNames(t, completions(t, nil, "consume", "--url", k.URL, "ord"), "orders", "orders.DLT")
	wantNames(t, completions(t, nil, "consume", "--url", k.URL, "orders", "ord"), "orders.DLT")
	wantNames(t, completions(t, nil, "consume", "--url", k.URL, "orders", "--group", ""), "orders-app")
	wantNames(t, completions(t, nil, "lag", "--url", k.URL, ""), "orders-app")
	wantNames(t, completions(t, nil, "dlq", "peek", "--url", k.URL, "orders."), "orders.DLT")
	wantNames(t, completions(t, nil, "dlq", "peek", "--url", k.URL, "orders.DLT", ""))
	wantNames(t, completions(t, nil, "offsets", "reset", "--url", k.URL, ""), "orders-app")
	wantNames(t, completions(t, nil, "offsets", "reset", "--url", k.URL, "orders-app", ""))
	wantNames(t, completions(t, nil, "offsets", "reset", "--url", k.URL, "orders-app", "--topic", "ord"), "orders", "orders.DLT")
}

func TestCompleteStreams(t *testing.T) {
	n := testenv.NATS(t, sandbox.NATSOptions{})
	nc, err := nats.Connect(n.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	for _, s := range []string{"ORDERS", "ORDERS_DLQ", "AUDIT"} {
		if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: s, Subjects: []string{strings.ToLower(s) + ".>"}}); err != nil {
			t.Fatal(err)
		}
	}
	wantNames(t, completions(t, nil, "ls", "--url", n.URL, ""), "AUDIT", "ORDERS", "ORDERS_DLQ")
	wantNames(t, completions(t, nil, "lag", "--url", n.URL, "ORD"), "ORDERS", "ORDERS_DLQ")
	wantNames(t, completions(t, nil, "offsets", "reset", "worker", "--url", n.URL, "--topic", "ORD"), "ORDERS", "ORDERS_DLQ")

	// offsets reset GROUP: the durable consumers of every stream, each
	// name once; not the ephemeral ones, which have no position to reset.
	for _, c := range []struct {
		stream string
		cfg    jetstream.ConsumerConfig
	}{
		{"ORDERS", jetstream.ConsumerConfig{Durable: "worker"}},
		{"AUDIT", jetstream.ConsumerConfig{Durable: "worker"}},
		{"AUDIT", jetstream.ConsumerConfig{Durable: "archiver"}},
		{"ORDERS", jetstream.ConsumerConfig{InactiveThreshold: time.Minute}},
	} {
		if _, err := js.CreateOrUpdateConsumer(context.Background(), c.stream, c.cfg); err != nil {
			t.Fatal(err)
		}
	}
	wantNames(t, completions(t, nil, "offsets", "reset", "--url", n.URL, ""), "archiver", "worker")
	wantNames(t, completions(t, nil, "offsets", "reset", "--url", n.URL, "w"), "worker")
	wantNames(t, completions(t, nil, "consume", "--url", n.URL, "ORDERS", "--group", ""))
}

// RabbitMQ queues come from the management API named in the context,
// which -c selects on the command line.
func TestCompleteQueuesOfAContext(t *testing.T) {
	rmq := testenv.RabbitMQ(t)
	queue := testenv.UniqueName(t, "cmpl")
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
	t.Cleanup(func() { _, _ = ch.QueueDelete(queue, false, false, false) })
	env := map[string]string{"MQCTL_CONFIG": filepath.Join(t.TempDir(), "config.yaml")}
	if r := runInProcess(t, false, env, "context", "add", "rmq", "--url", rmq.AMQPURL, "--management-url", rmq.APIURL); r.code != 0 {
		t.Fatalf("context add: %s", r.stderr)
	}
	if r := runInProcess(t, false, env, "context", "add", "other", "--url", "kafka://127.0.0.1:1"); r.code != 0 {
		t.Fatalf("context add: %s", r.stderr)
	}
	wantNames(t, completions(t, env, "ls", "-c", "rmq", queue[:len(queue)-1]), queue)
	wantNames(t, completions(t, env, "ls", "-c", ""), "other", "rmq")
	// After a comma, the list so far and each context not in it yet.
	wantNames(t, completions(t, env, "lag", "-c", "rmq,"), "rmq,other")
	wantNames(t, completions(t, env, "lag", "-c", "other,o"), "other,rmq")
	wantNames(t, completions(t, env, "lag", "-c", "other,rmq,"))
	wantNames(t, completions(t, env, "consume", "-c", "rmq", "--group", ""))
	wantNames(t, completions(t, env, "offsets", "reset", "-c", "rmq", ""))
}

// A broker that refuses, and one that never answers, complete nothing
// within the bound: the shell never hangs.
func TestCompleteDeadBroker(t *testing.T) {
	port, silent := testenv.ClosedPort(t), testenv.SilentPort(t)
	for _, u := range []string{
		fmt.Sprintf("kafka://127.0.0.1:%d", port),
		fmt.Sprintf("amqp://127.0.0.1:%d/", port),
		fmt.Sprintf("nats://127.0.0.1:%d", silent), // connects, never answers
		fmt.Sprintf("kafka://127.0.0.1:%d", silent),
		fmt.Sprintf("amqp://127.0.0.1:%d/", silent),
	} {
		wantNames(t, completions(t, nil, "ls", "--url", u, ""))
		wantNames(t, completions(t, nil, "lag", "--url", u, "--timeout", "30s", ""))
	}
}
