package cmd_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/testenv"
)

// Without the management API a queue's unacked count and rates are
// unknown, and lag -o prometheus leaves them out: a dashboard shows a gap
// during the outage, not "0 in flight, 0 msg/s" (it wrote 0 for them).
// Ready, consumers and lag (ready alone) are the passive declare's; JSON
// says "stats": "partial" and has no unacked count or rates.
func TestLagRabbitMQWithoutManagementAPIPrometheus(t *testing.T) {
	rmq := testenv.RabbitMQ(t)
	queue := queueWithMessages(t, rmq, "nomgmt-prom", 4)
	// One message delivered and held unacked: the real unacked count is
	// 1, which a passive declare does not tell.
	conn, err := amqp.Dial(rmq.AMQPURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Qos(1, 0, false); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-deliveries:
	case <-time.After(testenv.Deadline(10 * time.Second)):
		t.Fatal("no delivery to the holding consumer")
	}

	c := newCLI(t)
	dead := fmt.Sprintf("http://127.0.0.1:%d", closedPort(t))
	if r := c.run("context", "add", "r", "--url", rmq.AMQPURL, "--management-url", dead); r.code != 0 {
		t.Fatal(r.stderr)
	}
	r := c.run("lag", queue, "-o", "prometheus")
	if r.code != 0 || !strings.Contains(r.stderr, "over AMQP") {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(r.stdout))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, r.stdout)
	}
	got := map[string]float64{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "queue" && l.GetValue() == queue {
					got[name] = m.GetGauge().GetValue()
				}
			}
		}
	}
	want := map[string]float64{"mqctl_lag_messages": 3, "mqctl_queue_ready_messages": 3, "mqctl_queue_consumers": 1}
	for name, v := range want {
		if g, ok := got[name]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v\n%s", name, g, ok, v, r.stdout)
		}
	}
	for _, unknown := range []string{"mqctl_queue_unacked_messages", "mqctl_queue_publish_rate", "mqctl_queue_deliver_rate", "mqctl_queue_ack_rate"} {
		if v, ok := got[unknown]; ok {
			t.Errorf("%s = %v written for a queue read over AMQP alone, want no sample\n%s", unknown, v, r.stdout)
		}
	}

	r = c.run("lag", queue, "-o", "json")
	var rows []map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rows) != nil || len(rows) != 1 {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	if rows[0]["stats"] != "partial" || rows[0]["ready"] != 3.0 || rows[0]["lag"] != 3.0 {
		t.Errorf("JSON row %v, want stats partial, ready 3, lag 3", rows[0])
	}
	for _, unknown := range []string{"unacked", "publish_rate", "deliver_rate", "ack_rate"} {
		if v, ok := rows[0][unknown]; ok {
			t.Errorf("JSON has %s %v for a queue read over AMQP alone", unknown, v)
		}
	}
}
