package cmd_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/testenv"
)

// apiQueueTotals is what the management API says of a queue's cumulative
// counts; MessageStats is nil while it has none.
type apiQueueTotals struct {
	MessageStats *struct {
		Publish    *float64 `json:"publish"`
		DeliverGet *float64 `json:"deliver_get"`
		Ack        *float64 `json:"ack"`
	} `json:"message_stats"`
}

// lag -o prometheus writes RabbitMQ's cumulative counts as the counters
// serve exports (mqctl_queue_{published,delivered,acked}_messages_total),
// equal to the management API's queue totals; a queue the API has no
// message_stats for has none (lag -o prometheus had no counters). The
// API may not have sampled the queues' depth yet: the counters do not
// wait for it.
func TestLagPrometheusQueueCounters(t *testing.T) {
	rmq := testenv.RabbitMQ(t)
	vhost := rmq.NewVHost(t)
	u, err := url.Parse(rmq.AMQPURL)
	if err != nil {
		t.Fatal(err)
	}
	vhURL := fmt.Sprintf("amqp://%s@%s/%s", u.User.String(), u.Host, vhost)
	conn, err := amqp.Dial(vhURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"work", "idle"} {
		if _, err := ch.QueueDeclare(q, false, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	const published, delivered, acked = 6, 4, 2
	for range published {
		c, err := ch.PublishWithDeferredConfirm("", "work", true, false, amqp.Publishing{Body: []byte("x")})
		if err != nil || !c.Wait() {
			t.Fatalf("publish: %v", err)
		}
	}
	// `delivered` basic.gets (deliver_get counts them), `acked` of them
	// acknowledged; the rest stay unacked until the connection closes. (A
	// consumer would be given more as acks free its prefetch window.)
	for i := range delivered {
		d, ok, err := ch.Get("work", false)
		if err != nil || !ok {
			t.Fatalf("get %d: %v (a message: %v)", i, err, ok)
		}
		if i < acked {
			if err := d.Ack(false); err != nil {
				t.Fatal(err)
			}
		}
	}

	// The API samples its statistics every few seconds.
	totals := func(queue string) apiQueueTotals {
		var q apiQueueTotals
		rmq.MustCall(t, http.MethodGet, "/api/queues/"+vhost+"/"+queue, nil, &q)
		return q
	}
	val := func(p *float64) float64 {
		if p == nil {
			return 0 // the API leaves out an operation that never happened
		}
		return *p
	}
	var want map[string]float64
	for deadline := time.Now().Add(testenv.Deadline(60 * time.Second)); ; {
		if s := totals("work").MessageStats; s != nil {
			want = map[string]float64{
				"mqctl_queue_published_messages_total": val(s.Publish),
				"mqctl_queue_delivered_messages_total": val(s.DeliverGet),
				"mqctl_queue_acked_messages_total":     val(s.Ack),
			}
			if want["mqctl_queue_published_messages_total"] == published && want["mqctl_queue_delivered_messages_total"] == delivered &&
				want["mqctl_queue_acked_messages_total"] == acked {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the management API never counted %d published, %d delivered, %d acked: %v", published, delivered, acked, want)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if s := totals("idle").MessageStats; s != nil {
		t.Fatalf("the API has message_stats for a queue that never saw a message: %+v", *s)
	}

	c := newCLI(t)
	if r := c.run("context", "add", "r", "--url", vhURL, "--management-url", rmq.APIURL); r.code != 0 {
		t.Fatalf("context add: %+v", r)
	}
	r := c.run("lag", "-c", "r", "-o", "prometheus")
	if r.code != 0 {
		t.Fatalf("lag -o prometheus: %+v", r)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(r.stdout))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, r.stdout)
	}
	for name, v := range want {
		f := families[name]
		if f == nil {
			t.Errorf("no %s\n%s", name, r.stdout)
			continue
		}
		if f.GetType() != dto.MetricType_COUNTER {
			t.Errorf("%s: type %s, want counter\n%s", name, f.GetType(), r.stdout)
		}
		got := map[string]float64{}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["broker"] != "rabbitmq" || labels["context"] != "r" || len(labels) != 3 {
				t.Errorf("%s: labels %v, want broker, context and queue", name, labels)
			}
			got[labels["queue"]] = m.GetCounter().GetValue()
		}
		if len(got) != 1 || got["work"] != v {
			t.Errorf("%s = %v, want work %v as the management API counts it, and no idle", name, got, v)
		}
	}
}
