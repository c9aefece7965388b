package cmd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// checkNoRawControl runs each command line on a terminal and in a pipe
// and fails when a raw control reaches the terminal's stdout or either
// stderr.
func checkNoRawControl(t *testing.T, env map[string]string, cases map[string][]string) {
	t.Helper()
	for name, args := range cases {
		for _, tty := range []bool{true, false} {
			r := runInProcess(t, tty, env, args...)
			if c, bad := rawControl(r.stdout); tty && bad {
				t.Errorf("%s: %U reached the terminal raw on stdout:\n%q", name, c, r.stdout)
			}
			if c, bad := rawControl(r.stderr); bad {
				t.Errorf("%s (tty %v): %U reached stderr raw:\n%q", name, tty, c, r.stderr)
			}
		}
	}
}

// Hostile dead letters published by amqp091-go (bodies, typed headers,
// x-death reasons, properties) and a queue whose name is hostile reach no
// terminal raw.
func TestHostileRabbitMQDataNeverReachesTheTerminalRaw(t *testing.T) {
	evilQueue := "evil\x1b[2J\u202e.dlq"
	rmq := testenv.RabbitMQ(t)
	u := strings.TrimSuffix(rmq.AMQPURL, "/") + "/" + rmq.NewVHost(t)
	conn, err := amqp.Dial(u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"orders.dlq", evilQueue} {
		if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i, h := range hostileData {
		short := h[:min(len(h), 200)] // AMQP short strings (names, properties) hold 255 bytes
		err := ch.PublishWithContext(context.Background(), "", "orders.dlq", false, false, amqp.Publishing{
			Body: []byte(h), MessageId: short, Type: short, AppId: short, ContentType: short, CorrelationId: short,
			Headers: amqp.Table{
				short: h, "n": int32(i),
				"x-death": []any{amqp.Table{"queue": "orders" + h, "reason": "rejected" + h, "count": int64(1),
					"exchange": h, "routing-keys": []any{h}, "time": time.Now()}},
			},
		})
		if err != nil {
			t.Fatalf("publishing hostile message %d: %.200v", i, err)
		}
		if err := ch.PublishWithContext(context.Background(), "", evilQueue, false, false, amqp.Publishing{Body: []byte(h)}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	yaml := "current_context: r\ncontexts:\n- name: r\n  url: " + u + "\n  management_url: " + rmq.APIURL + "\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	n := "13"
	checkNoRawControl(t, map[string]string{"MQCTL_CONFIG": cfg}, map[string][]string{
		"ls":              {"ls"},
		"lag":             {"lag"},
		"dlq ls":          {"dlq", "ls", "--sample", "20"},
		"dlq peek":        {"dlq", "peek", "orders.dlq", "-n", n},
		"dlq peek wide":   {"dlq", "peek", "orders.dlq", "-n", n, "-o", "wide"},
		"dlq peek yaml":   {"dlq", "peek", "orders.dlq", "-n", n, "-o", "yaml"},
		"dlq stats":       {"dlq", "stats", "orders.dlq"},
		"dlq replay dry":  {"dlq", "replay", "orders.dlq", "--dry-run"},
		"consume raw":     {"consume", "orders.dlq", "--ack", "none", "-n", n},
		"consume jsonl":   {"consume", "orders.dlq", "--ack", "none", "-n", n, "-o", "jsonl"},
		"consume tmpl":    {"consume", "orders.dlq", "--ack", "none", "-n", n, "-o", `template={{.Value}} {{range .Headers}}{{.Key}}={{printf "%s" .Value}} {{end}}`},
		"evil queue peek": {"consume", evilQueue, "--ack", "none", "-n", n},
		"missing queue":   {"consume", "missing\x1b]52;c;eA==\x07", "--ack", "none", "-n", "1"},
	})
}

// Hostile messages and headers published by nats.go into a JetStream
// dead-letter stream reach no terminal raw.
func TestHostileNATSDataNeverReachesTheTerminalRaw(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	nc, err := nats.Connect(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AddStream(&nats.StreamConfig{Name: "ORDERS_DLQ", Subjects: []string{"dlq.orders.>"}}); err != nil {
		t.Fatal(err)
	}
	for i, h := range hostileData {
		m := nats.NewMsg("dlq.orders.x" + string(rune('a'+i)))
		m.Data = []byte(h)
		m.Header.Set("X-Evil", h)
		m.Header.Set("mq-death-reason", h)
		m.Header.Set("mq-original-destination", "orders"+h)
		if _, err := js.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	n := "13"
	checkNoRawControl(t, map[string]string{"MQCTL_URL": srv.URL}, map[string][]string{
		"ls":             {"ls"},
		"dlq ls":         {"dlq", "ls"},
		"dlq peek":       {"dlq", "peek", "ORDERS_DLQ", "-n", n},
		"dlq peek wide":  {"dlq", "peek", "ORDERS_DLQ", "-n", n, "-o", "wide"},
		"dlq stats":      {"dlq", "stats", "ORDERS_DLQ"},
		"dlq replay dry": {"dlq", "replay", "ORDERS_DLQ", "--dry-run"},
		"consume raw":    {"consume", "ORDERS_DLQ", "--ack", "none", "-n", n},
		"consume jsonl":  {"consume", "ORDERS_DLQ", "--ack", "none", "-n", n, "-o", "jsonl"},
		"consume tmpl":   {"consume", "ORDERS_DLQ", "--ack", "none", "-n", n, "-o", `template={{.Value}} {{.Header "X-Evil"}}`},
		"missing stream": {"consume", "NOPE\x1b[2J", "--ack", "none", "-n", "1"},
	})
	// In a pipe, raw output is the bytes unchanged.
	r := runInProcess(t, false, map[string]string{"MQCTL_URL": srv.URL}, "consume", "ORDERS_DLQ", "--ack", "none", "-n", n)
	if r.code != 0 || !strings.Contains(r.stdout, hostileData[0]+"\n") || !strings.Contains(r.stdout, "bad \xff\xfe\n") {
		t.Errorf("consume -o raw in a pipe altered the bytes: %+v", r)
	}
}
