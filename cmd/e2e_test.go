package cmd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

func TestVersion(t *testing.T) {
	r := newCLI(t).run("version")
	if r.code != 0 || !regexp.MustCompile(`^mqctl \S+ \(commit \S+, go1\.\d+`).MatchString(r.stdout) {
		t.Fatalf("version: code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	r = newCLI(t).run("version", "-o", "json")
	var v map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v["go"] == "" || v["version"] == "" {
		t.Fatalf("version -o json: %q (%v)", r.stdout, err)
	}
}

func TestBadInput(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		code    int
		mention string
	}{
		{"unknown scheme", []string{"ls", "--url", "redis://u:s3cretpw@h:6379"}, 2, `unknown URL scheme "redis"`},
		{"malformed url", []string{"ls", "--url", "kafka://u:s3cretpw@h:notaport"}, 2, "invalid port"},
		{"no scheme", []string{"ls", "--url", "localhost:9092"}, 2, "malformed URL"},
		{"missing context", []string{"ls", "-c", "nope"}, 2, `context "nope" does not exist`},
		{"no target", []string{"ls"}, 2, "no broker selected"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"unknown flag", []string{"ls", "--frob"}, 2, "unknown flag"},
		{"bad output", []string{"version", "-o", "xml"}, 2, `unknown output format "xml"`},
		{"bad template", []string{"version", "-o", "template={{.Version"}, 2, "template"},
		{"bad timeout", []string{"ls", "--timeout", "soon"}, 2, "invalid argument"},
		{"context add without url", []string{"context", "add", "x"}, 2, "--url is required"},
		{"context add bad sasl", []string{"context", "add", "x", "--url", "kafka://h:1", "--sasl", "MD5"}, 2, "--sasl"},
		{"context use missing", []string{"context", "use", "ghost"}, 2, `context "ghost" does not exist`},
		{"completion bad shell", []string{"completion", "tcsh"}, 2, "tcsh"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newCLI(t).run(tc.args...)
			expectError(t, r, tc.code, tc.mention, "s3cretpw")
		})
	}
}

// Every driver gives up on an unreachable broker within --timeout with exit 1.
func TestUnreachable(t *testing.T) {
	for _, tc := range []struct {
		scheme string
		extra  []string
	}{{"kafka", []string{"--sasl", "PLAIN"}}, {"nats", nil}, {"amqp", nil}} {
		t.Run(tc.scheme, func(t *testing.T) {
			c := newCLI(t)
			url := fmt.Sprintf("%s://user:s3cretpw@127.0.0.1:%d", tc.scheme, closedPort(t))
			if r := c.run(append([]string{"context", "add", "x", "--url", url}, tc.extra...)...); r.code != 0 {
				t.Fatalf("context add: %+v", r)
			}
			r := c.run("ls", "--timeout", "1500ms")
			expectError(t, r, 1, "127.0.0.1", "s3cretpw")
			if r.elapsed > testenv.Deadline(1500*time.Millisecond) {
				t.Errorf("took %s, want about --timeout 1.5s", r.elapsed)
			}
		})
	}
}

func TestWrongCredentials(t *testing.T) {
	t.Run("kafka", func(t *testing.T) {
		k := testenv.Kafka(t, sandbox.KafkaOptions{Extra: []kfake.Opt{
			kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "ops", "right-pass"),
		}})
		c := newCLI(t)
		c.env = []string{"KPW=wrong-pass"}
		if r := c.run("context", "add", "k", "--url", k.URL, "--sasl", "SCRAM-SHA-256", "--username", "ops", "--password-env", "KPW"); r.code != 0 {
			t.Fatalf("context add: %+v", r)
		}
		expectError(t, c.run("ls", "--timeout", "5s"), 4, "", "wrong-pass")
		c.env = []string{"KPW=right-pass"}
		if r := c.run("ls", "--timeout", "5s"); r.code != 0 {
			t.Fatalf("ls with the right password: %+v", r)
		}
	})
	t.Run("nats", func(t *testing.T) {
		n := testenv.NATS(t, sandbox.NATSOptions{Configure: func(o *server.Options) {
			o.Username, o.Password = "ops", "right-pass"
		}})
		url := strings.Replace(n.URL, "nats://", "nats://ops:wrong-pass@", 1)
		expectError(t, newCLI(t).run("ls", "--url", url), 4, "", "wrong-pass")
	})
	t.Run("rabbitmq", func(t *testing.T) {
		rmq := testenv.RabbitMQ(t)
		ep, err := broker.ParseEndpoint(rmq.AMQPURL)
		if err != nil {
			t.Fatal(err)
		}
		url := fmt.Sprintf("amqp://guest:wrong-pass@%s/", ep.Hosts[0])
		expectError(t, newCLI(t).run("ls", "--url", url), 4, "", "wrong-pass")
	})
}

func TestContexts(t *testing.T) {
	c := newCLI(t)
	c.env = []string{"RMQ_PW=pw-from-env"}
	must := func(r result) result {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		return r
	}
	must(c.run("context", "add", "prod", "--url", "amqp://ops:inline-secret@rmq.example:5672/orders", "--read-only", "--timeout", "3s"))
	must(c.run("context", "add", "rmq", "--url", "amqp://rmq.example/", "--username", "ops", "--password-env", "RMQ_PW"))
	if r := c.run("context", "add", "prod", "--url", "kafka://h:9092"); r.code != 2 {
		t.Fatalf("adding an existing context without --overwrite: exit %d", r.code)
	}
	info, err := os.Stat(c.config)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("config file mode %v (%v), want 0600", info.Mode().Perm(), err)
	}
	if r := must(c.run("context", "current")); strings.TrimSpace(r.stdout) != "prod" {
		t.Fatalf("first context added is current, got %q", r.stdout)
	}
	must(c.run("context", "use", "rmq"))
	if r := must(c.run("context", "current")); strings.TrimSpace(r.stdout) != "rmq" {
		t.Fatalf("current after use: %q", r.stdout)
	}
	ls := must(c.run("context", "ls", "-o", "json"))
	var rows []map[string]any
	if err := json.Unmarshal([]byte(ls.stdout), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("context ls -o json: %q (%v)", ls.stdout, err)
	}
	if rows[0]["name"] != "prod" || rows[0]["read_only"] != true || rows[1]["current"] != true {
		t.Errorf("context ls rows: %v", rows)
	}
	show := must(c.run("context", "show", "prod"))
	for _, want := range []string{"amqp://ops:xxxxx@rmq.example:5672/orders", "read_only: true", "timeout: 3s"} {
		if !strings.Contains(show.stdout, want) {
			t.Errorf("context show lacks %q:\n%s", want, show.stdout)
		}
	}
	for _, r := range []result{ls, show, must(c.run("context", "ls"))} {
		if strings.Contains(r.stdout+r.stderr, "inline-secret") || strings.Contains(r.stdout+r.stderr, "pw-from-env") {
			t.Errorf("a secret leaked: %q", r.stdout)
		}
	}
	// MQCTL_CONTEXT and -c select; flags win over the environment.
	c.env = append(c.env, "MQCTL_CONTEXT=prod")
	if r := must(c.run("context", "current")); strings.TrimSpace(r.stdout) != "prod" {
		t.Errorf("MQCTL_CONTEXT ignored: %q", r.stdout)
	}
	if r := must(c.run("context", "current", "-c", "rmq")); strings.TrimSpace(r.stdout) != "rmq" {
		t.Errorf("-c does not win over MQCTL_CONTEXT: %q", r.stdout)
	}
	must(c.run("context", "rm", "prod"))
	expectError(t, c.run("context", "show", "prod"), 2, `context "prod" does not exist`)
}

// ls against brokers mqctl did not start: a kfake and a nats-server started
// here, and the test RabbitMQ.
func TestLsKafka(t *testing.T) {
	k := testenv.Kafka(t, sandbox.KafkaOptions{})
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	var recs []*kgo.Record
	for i := range 30 {
		recs = append(recs, &kgo.Record{Topic: "ls-orders", Key: []byte{byte(i)}, Value: []byte("v")})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	r := newCLI(t).run("ls", "--url", k.URL, "-o", "json")
	if r.code != 0 {
		t.Fatalf("ls: %+v", r)
	}
	var ds []broker.Destination
	if err := json.Unmarshal([]byte(r.stdout), &ds); err != nil {
		t.Fatalf("ls -o json: %v\n%s", err, r.stdout)
	}
	if len(ds) != 1 || ds[0].Name != "ls-orders" || ds[0].Messages != 30 || ds[0].Partitions != 4 || ds[0].Type != "topic" {
		t.Fatalf("ls: %+v", ds)
	}
	table := newCLI(t).run("ls", "--url", k.URL)
	if !regexp.MustCompile(`(?m)^TOPIC\tPARTITIONS\tMESSAGES\tGROUPS\nls-orders\t4\t30\t0$`).MatchString(table.stdout) {
		t.Errorf("piped table: %q", table.stdout)
	}
}

func TestLsNATS(t *testing.T) {
	n, _, _ := natsStream(t, "EVENTS", []string{"events.>"}, "events.x", 7)
	r := newCLI(t).run("ls", "--url", n.URL, "-o", "jsonl")
	var d broker.Destination
	if err := json.Unmarshal([]byte(r.stdout), &d); r.code != 0 || err != nil {
		t.Fatalf("ls: %+v (%v)", r, err)
	}
	if d.Name != "EVENTS" || d.Messages != 7 || d.Type != "stream" || len(d.Subjects) != 1 {
		t.Fatalf("ls: %+v", d)
	}
}

func TestLsRabbitMQ(t *testing.T) {
	rmq := testenv.RabbitMQ(t)
	queue := testenv.UniqueName(t, "ls")
	conn, err := amqp.Dial(rmq.AMQPURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, _ := conn.Channel()
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	defer ch.QueueDelete(queue, false, false, false)
	_ = ch.Confirm(false)
	for range 5 {
		c, err := ch.PublishWithDeferredConfirm("", queue, true, false, amqp.Publishing{Body: []byte("x")})
		if err != nil || !c.Wait() {
			t.Fatalf("publish: %v", err)
		}
	}
	c := newCLI(t)
	if r := c.run("context", "add", "r", "--url", rmq.AMQPURL, "--management-url", rmq.APIURL); r.code != 0 {
		t.Fatalf("context add: %+v", r)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := c.run("ls", "-o", "json")
		var ds []broker.Destination
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &ds) != nil {
			t.Fatalf("ls: %+v", r)
		}
		for _, d := range ds {
			if d.Name == queue && d.Ready != nil && *d.Ready == 5 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue %s with 5 ready not listed: %s", queue, r.stdout)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Review findings turned into tests: each of these once went wrong.
func TestReviewRegressions(t *testing.T) {
	t.Run("password with # / ? never printed", func(t *testing.T) {
		for _, url := range []string{"amqp://ops:s3cr#et99@rmq:bad/", "amqp://ops:s3cr/et99@rmq:bad/", "kafka://ops:s3cr?et99@h:x"} {
			c := newCLI(t)
			expectError(t, c.run("ls", "--url", url), 2, "malformed URL", "et99")
			expectError(t, c.run("context", "add", "x", "--url", url), 2, "malformed URL", "et99")
		}
	})
	t.Run("mistyped context subcommand", func(t *testing.T) {
		expectError(t, newCLI(t).run("context", "lss"), 2, `unknown command "lss"`)
	})
	t.Run("MQCTL_URL does not take a context's password elsewhere", func(t *testing.T) {
		c := newCLI(t)
		if r := c.run("context", "add", "prod", "--url", "amqp://ops:prod-secret@127.0.0.1:1/"); r.code != 0 {
			t.Fatal(r.stderr)
		}
		c.env = []string{fmt.Sprintf("MQCTL_URL=nats://127.0.0.1:%d", closedPort(t))}
		r := c.run("-c", "prod", "ls", "-v", "--timeout", "1s")
		if !strings.Contains(r.stderr, "amqp://ops:xxxxx@127.0.0.1:1/") || strings.Contains(r.stderr, "nats://") {
			t.Errorf("-c prod must use prod's own URL, not MQCTL_URL: %s", r.stderr)
		}
		c.env = []string{"MQCTL_URL=nats://127.0.0.1:1", "MQCTL_CONTEXT=prod"}
		expectError(t, c.run("ls"), 2, "both set")
	})
}
