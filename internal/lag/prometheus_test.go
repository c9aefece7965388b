package lag

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// promSample is one parsed series.
type promSample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseProm reads text with the Prometheus client library's own parser
// (expfmt, as a scrape would) and adds the checks the format leaves to the
// writer: output ends in a newline, every family is a gauge but the
// counters named _total, no series is written twice, no sample carries a
// timestamp. Samples come back in the
// order written, family by family.
func parseProm(text string) ([]promSample, error) {
	if text == "" {
		return nil, nil
	}
	if !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("output does not end in a newline")
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	order, err := familyOrder(text)
	if err != nil {
		return nil, err
	}
	if len(order) != len(families) {
		return nil, fmt.Errorf("%d families, %d TYPE lines", len(families), len(order))
	}
	var out []promSample
	seen := map[string]bool{}
	for _, name := range order {
		f := families[name]
		want := dto.MetricType_GAUGE
		if strings.HasSuffix(name, "_total") {
			want = dto.MetricType_COUNTER
		}
		if f.GetType() != want {
			return nil, fmt.Errorf("family %s is %s, want %s", name, f.GetType(), want)
		}
		for _, m := range f.GetMetric() {
			if m.TimestampMs != nil {
				return nil, fmt.Errorf("family %s: a sample has a timestamp", name)
			}
			s := promSample{name: name, labels: map[string]string{}, value: m.GetGauge().GetValue() + m.GetCounter().GetValue()}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			id := name + fmt.Sprint(s.labels) // fmt sorts map keys
			if seen[id] {
				return nil, fmt.Errorf("duplicate series %s", id)
			}
			seen[id] = true
			out = append(out, s)
		}
	}
	return out, nil
}

// familyOrder is the families' names in the order their TYPE lines appear;
// a family whose lines are interleaved with another's is an error (a
// scraper may keep only one block).
func familyOrder(text string) ([]string, error) {
	var names []string
	done := map[string]bool{}
	current := ""
	for line := range strings.Lines(text) {
		name := line
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name = rest
		} else if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name = rest
		}
		name = name[:strings.IndexAny(name, "{ \n")]
		if name != current {
			if done[name] {
				return nil, fmt.Errorf("family %s interleaved with another", name)
			}
			done[current], current = true, name
		}
		if strings.HasPrefix(line, "# TYPE ") {
			names = append(names, name)
		}
	}
	return names, nil
}

func TestPrometheusGolden(t *testing.T) {
	k := kafkaRow(3, 12034, 3*time.Minute+2*time.Second)
	k.Context = `prod "eu"`
	dup := k
	dup.Lag = 1 // same series as k: must not be written
	k0 := kafkaRow(0, 0, 0)
	k0.Committed, k0.End = Unknown, Unknown
	q := queueRow("jobs\\dead\nletter", 7)
	q.Unacked, q.Consumers, q.PublishRate, q.DeliverRate, q.AckRate, q.DrainTime = 2, 1, 0.5, 0, 0.25, 30*time.Second
	q.Published, q.Delivered, q.Acked = ptr(9), ptr(3), ptr(0)
	c := consumerRow("ORDERS", "worker", 4)
	c.AckPending, c.Redelivered, c.Waiting, c.LastActive = 1, 2, 3, time.Date(2026, 3, 1, 3, 4, 5, 500e6, time.UTC)

	var b strings.Builder
	if err := Prometheus(&b, []Row{q, k, c, dup, k0}); err != nil {
		t.Fatal(err)
	}
	want := `# HELP mqctl_lag_messages Messages waiting: log end minus committed offset (Kafka), ready plus unacked (RabbitMQ; ready alone, a lower bound, while the management API is unreachable), num_pending (JetStream).
# TYPE mqctl_lag_messages gauge
mqctl_lag_messages{broker="kafka",context="prod \"eu\"",group="orders",partition="3",topic="t"} 12034
mqctl_lag_messages{broker="kafka",group="orders",partition="0",topic="t"} 0
mqctl_lag_messages{broker="nats",consumer="worker",stream="ORDERS"} 4
mqctl_lag_messages{broker="rabbitmq",queue="jobs\\dead\nletter"} 7
# HELP mqctl_lag_seconds Estimated age of the oldest waiting message, in seconds.
# TYPE mqctl_lag_seconds gauge
mqctl_lag_seconds{broker="kafka",context="prod \"eu\"",group="orders",partition="3",topic="t"} 182
# HELP mqctl_committed_offset Committed offset (Kafka) or ack floor stream sequence (JetStream).
# TYPE mqctl_committed_offset gauge
mqctl_committed_offset{broker="kafka",context="prod \"eu\"",group="orders",partition="3",topic="t"} 1000
mqctl_committed_offset{broker="nats",consumer="worker",stream="ORDERS"} 10
# HELP mqctl_end_offset Log end offset (Kafka) or last stream sequence (JetStream).
# TYPE mqctl_end_offset gauge
mqctl_end_offset{broker="kafka",context="prod \"eu\"",group="orders",partition="3",topic="t"} 13034
mqctl_end_offset{broker="nats",consumer="worker",stream="ORDERS"} 14
# HELP mqctl_queue_ready_messages Messages ready for delivery in the queue.
# TYPE mqctl_queue_ready_messages gauge
mqctl_queue_ready_messages{broker="rabbitmq",queue="jobs\\dead\nletter"} 7
# HELP mqctl_queue_unacked_messages Messages delivered from the queue and not yet acknowledged.
# TYPE mqctl_queue_unacked_messages gauge
mqctl_queue_unacked_messages{broker="rabbitmq",queue="jobs\\dead\nletter"} 2
# HELP mqctl_queue_consumers Consumers attached to the queue.
# TYPE mqctl_queue_consumers gauge
mqctl_queue_consumers{broker="rabbitmq",queue="jobs\\dead\nletter"} 1
# HELP mqctl_queue_publish_rate Messages published to the queue per second, the broker's own average over its last sampling window (rate() of mqctl_queue_published_messages_total is Prometheus's).
# TYPE mqctl_queue_publish_rate gauge
mqctl_queue_publish_rate{broker="rabbitmq",queue="jobs\\dead\nletter"} 0.5
# HELP mqctl_queue_deliver_rate Messages delivered from the queue per second, the broker's own average over its last sampling window (rate() of mqctl_queue_delivered_messages_total is Prometheus's).
# TYPE mqctl_queue_deliver_rate gauge
mqctl_queue_deliver_rate{broker="rabbitmq",queue="jobs\\dead\nletter"} 0
# HELP mqctl_queue_ack_rate Messages acknowledged on the queue per second, the broker's own average over its last sampling window (rate() of mqctl_queue_acked_messages_total is Prometheus's).
# TYPE mqctl_queue_ack_rate gauge
mqctl_queue_ack_rate{broker="rabbitmq",queue="jobs\\dead\nletter"} 0.25
# HELP mqctl_queue_drain_seconds Estimated seconds until the queue is empty at the current rates.
# TYPE mqctl_queue_drain_seconds gauge
mqctl_queue_drain_seconds{broker="rabbitmq",queue="jobs\\dead\nletter"} 30
# HELP mqctl_consumer_ack_pending_messages Messages delivered to the consumer and not yet acknowledged.
# TYPE mqctl_consumer_ack_pending_messages gauge
mqctl_consumer_ack_pending_messages{broker="nats",consumer="worker",stream="ORDERS"} 1
# HELP mqctl_consumer_redelivered_messages Messages redelivered to the consumer and not yet acknowledged.
# TYPE mqctl_consumer_redelivered_messages gauge
mqctl_consumer_redelivered_messages{broker="nats",consumer="worker",stream="ORDERS"} 2
# HELP mqctl_consumer_waiting Pull requests waiting on the consumer.
# TYPE mqctl_consumer_waiting gauge
mqctl_consumer_waiting{broker="nats",consumer="worker",stream="ORDERS"} 3
# HELP mqctl_consumer_last_active_timestamp_seconds Unix time of the consumer's last delivery or acknowledgement.
# TYPE mqctl_consumer_last_active_timestamp_seconds gauge
mqctl_consumer_last_active_timestamp_seconds{broker="nats",consumer="worker",stream="ORDERS"} 1772334245.5
# HELP mqctl_queue_published_messages_total Messages published to the RabbitMQ queue, as the management API counts them (message_stats.publish); rate() of it is the publish rate.
# TYPE mqctl_queue_published_messages_total counter
mqctl_queue_published_messages_total{broker="rabbitmq",queue="jobs\\dead\nletter"} 9
# HELP mqctl_queue_delivered_messages_total Messages delivered from the RabbitMQ queue, to consumers and basic.get (message_stats.deliver_get).
# TYPE mqctl_queue_delivered_messages_total counter
mqctl_queue_delivered_messages_total{broker="rabbitmq",queue="jobs\\dead\nletter"} 3
# HELP mqctl_queue_acked_messages_total Messages acknowledged on the RabbitMQ queue (message_stats.ack).
# TYPE mqctl_queue_acked_messages_total counter
mqctl_queue_acked_messages_total{broker="rabbitmq",queue="jobs\\dead\nletter"} 0
`
	if b.String() != want {
		t.Errorf("output\n%s\nwant\n%s", b.String(), want)
	}
	got, err := parseProm(b.String())
	if err != nil {
		t.Fatal(err)
	}
	// The escaped names come back intact.
	first := got[0]
	if first.labels["context"] != `prod "eu"` || first.value != 12034 {
		t.Errorf("first series parsed as %+v", first)
	}
	if got[3].labels["queue"] != "jobs\\dead\nletter" {
		t.Errorf("queue label parsed as %q", got[3].labels["queue"])
	}
}

func ptr(n int64) *int64 { return &n }

// A queue's cumulative counts are counters, written where the broker gave
// them (0 included) and left out where it did not, whatever the queue's
// depth figures: a queue the API has not sampled yet keeps its counters.
func TestPrometheusQueueCounters(t *testing.T) {
	counted := queueRow("counted", 4)
	counted.Published, counted.Delivered, counted.Acked = ptr(10), ptr(6), ptr(0)
	never := queueRow("never", 0) // never saw a message: no message_stats
	absent := queueRow("absent", 0)
	absent.Stats, absent.Published, absent.Delivered, absent.Acked = StatsAbsent, ptr(5), ptr(5), ptr(5)
	partition := kafkaRow(0, 1, 0)
	partition.Published = ptr(1) // only queues have them
	var b strings.Builder
	if err := Prometheus(&b, []Row{counted, never, absent, partition}); err != nil {
		t.Fatal(err)
	}
	got, err := parseProm(b.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	counters := map[string]float64{}
	for _, s := range got {
		if strings.HasSuffix(s.name, "_total") {
			counters[s.name+" "+s.labels["queue"]] = s.value
		}
	}
	want := map[string]float64{
		"mqctl_queue_published_messages_total counted": 10, "mqctl_queue_delivered_messages_total counted": 6, "mqctl_queue_acked_messages_total counted": 0,
		"mqctl_queue_published_messages_total absent": 5, "mqctl_queue_delivered_messages_total absent": 5, "mqctl_queue_acked_messages_total absent": 5,
	}
	if !maps.Equal(counters, want) {
		t.Errorf("counters %v, want %v\n%s", counters, want, b.String())
	}
	for _, m := range Metrics([]Row{counted}) {
		if want := map[bool]string{true: "counter", false: "gauge"}[strings.HasSuffix(m.Family, "_total")]; m.Type != want {
			t.Errorf("Metrics: %s is a %q, want %q", m.Family, m.Type, want)
		}
	}
}

func TestPrometheusEmpty(t *testing.T) {
	var b strings.Builder
	if err := Prometheus(&b, nil); err != nil || b.Len() != 0 {
		t.Errorf("no rows wrote %q, %v", b.String(), err)
	}
}

// The parser must reject what the format forbids, or the tests above prove
// nothing.
func TestParsePromRejects(t *testing.T) {
	head := "# HELP m h\n# TYPE m gauge\n"
	bad := map[string]string{
		"no newline":       head + `m{a="1"} 1`,
		"bad escape":       head + `m{a="x\t"} 1` + "\n",
		"unescaped quote":  head + `m{a="x"y"} 1` + "\n",
		"duplicate series": head + `m{a="1"} 1` + "\n" + `m{a="1"} 2` + "\n",
		"no TYPE":          "m 1\n",
		"twice HELP":       head + "# HELP m h\n",
		"interleaved":      head + "m 1\n# HELP n h\n# TYPE n gauge\nn 1\nm{a=\"2\"} 1\n",
		"timestamp":        head + "m 1 1700000000\n",
		"bad value":        head + "m one\n",
	}
	for name, text := range bad {
		if _, err := parseProm(text); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

func FuzzPrometheusLabels(f *testing.F) {
	f.Add("orders", "t", "jobs", "ORDERS", "worker", "prod")
	f.Add(`a"b`, `c\d`, "e\nf", `\"`, "\\n", "")
	f.Add("\xff\xfe", "ü", "\\", `"`, "\n\n", "{}=,")
	f.Fuzz(func(t *testing.T, group, topic, queue, stream, consumer, context string) {
		rows := []Row{
			{Context: context, Broker: BrokerKafka, Kind: KindPartition, Group: group, Topic: topic, Partition: 1, Committed: 1, End: 3, Lag: 2},
			{Context: context, Broker: BrokerRabbitMQ, Kind: KindQueue, Queue: queue, Partition: Unknown, Committed: Unknown, End: Unknown, Lag: 5, Ready: 5},
			{Context: context, Broker: BrokerNATS, Kind: KindConsumer, Stream: stream, Consumer: consumer, Partition: Unknown, Committed: 4, End: 8, Lag: 4},
		}
		var b strings.Builder
		if err := Prometheus(&b, rows); err != nil {
			t.Fatal(err)
		}
		got, err := parseProm(b.String())
		if err != nil {
			t.Fatalf("%v\n%s", err, b.String())
		}
		lags := map[string]map[string]string{}
		for _, s := range got {
			if s.name == "mqctl_lag_messages" {
				lags[s.labels["broker"]] = s.labels
			}
		}
		for _, r := range rows {
			want := map[string]string{"broker": r.Broker}
			for k, v := range map[string]string{"context": context, "group": r.Group, "topic": r.Topic, "queue": r.Queue, "stream": r.Stream, "consumer": r.Consumer} {
				if v != "" {
					want[k] = strings.ToValidUTF8(v, "\uFFFD")
				}
			}
			if r.Partition >= 0 {
				want["partition"] = strconv.Itoa(int(r.Partition))
			}
			if !maps.Equal(lags[r.Broker], want) {
				t.Errorf("%s labels %q, want %q", r.Broker, lags[r.Broker], want)
			}
		}
	})
}
