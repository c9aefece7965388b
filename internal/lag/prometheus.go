package lag

import (
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// family is one Prometheus metric family; value returns the row's sample and
// whether it is known. Unknown values are left out rather than written as 0,
// so a dashboard shows a gap instead of a false "no lag".
type family struct {
	name, help string
	value      func(Row) (string, bool)
	// counts are left out for rows whose counts are unknown (StatsAbsent).
	// The unacked count and the rates are also left out of rows read over
	// AMQP alone (StatsPartial), which do not tell them.
	counts bool
}

var families = []family{
	{"mqctl_lag_messages", "Messages waiting: log end minus committed offset (Kafka), ready plus unacked (RabbitMQ; ready alone, a lower bound, while the management API is unreachable), num_pending (JetStream).",
		func(r Row) (string, bool) { return integer(r.Lag), true }, true},
	{"mqctl_lag_seconds", "Estimated age of the oldest waiting message, in seconds.",
		func(r Row) (string, bool) { return seconds(r.TimeLag), r.TimeLag > 0 }, false},
	{"mqctl_committed_offset", "Committed offset (Kafka) or ack floor stream sequence (JetStream).",
		func(r Row) (string, bool) { return integer(r.Committed), r.Committed >= 0 }, false},
	{"mqctl_end_offset", "Log end offset (Kafka) or last stream sequence (JetStream).",
		func(r Row) (string, bool) { return integer(r.End), r.End >= 0 }, false},
	{"mqctl_queue_ready_messages", "Messages ready for delivery in the queue.",
		func(r Row) (string, bool) { return integer(r.Ready), isQueue(r) }, true},
	{"mqctl_queue_unacked_messages", "Messages delivered from the queue and not yet acknowledged.",
		func(r Row) (string, bool) { return integer(r.Unacked), isQueue(r) && r.APIFiguresKnown() }, true},
	{"mqctl_queue_consumers", "Consumers attached to the queue.",
		func(r Row) (string, bool) { return integer(int64(r.Consumers)), isQueue(r) }, true},
	{"mqctl_queue_publish_rate", "Messages published to the queue per second, the broker's own average over its last sampling window (rate() of mqctl_queue_published_messages_total is Prometheus's).",
		func(r Row) (string, bool) { return float(r.PublishRate), isQueue(r) && r.APIFiguresKnown() }, true},
	{"mqctl_queue_deliver_rate", "Messages delivered from the queue per second, the broker's own average over its last sampling window (rate() of mqctl_queue_delivered_messages_total is Prometheus's).",
		func(r Row) (string, bool) { return float(r.DeliverRate), isQueue(r) && r.APIFiguresKnown() }, true},
	{"mqctl_queue_ack_rate", "Messages acknowledged on the queue per second, the broker's own average over its last sampling window (rate() of mqctl_queue_acked_messages_total is Prometheus's).",
		func(r Row) (string, bool) { return float(r.AckRate), isQueue(r) && r.APIFiguresKnown() }, true},
	{"mqctl_queue_drain_seconds", "Estimated seconds until the queue is empty at the current rates.",
		func(r Row) (string, bool) { return seconds(r.DrainTime), r.DrainTime > 0 }, false},
	{"mqctl_consumer_ack_pending_messages", "Messages delivered to the consumer and not yet acknowledged.",
		func(r Row) (string, bool) { return integer(r.AckPending), isConsumer(r) }, true},
	{"mqctl_consumer_redelivered_messages", "Messages redelivered to the consumer and not yet acknowledged.",
		func(r Row) (string, bool) { return integer(r.Redelivered), isConsumer(r) }, true},
	{"mqctl_consumer_waiting", "Pull requests waiting on the consumer.",
		func(r Row) (string, bool) { return integer(r.Waiting), isConsumer(r) }, true},
	{"mqctl_consumer_last_active_timestamp_seconds", "Unix time of the consumer's last delivery or acknowledgement.",
		func(r Row) (string, bool) { return unixSeconds(r.LastActive), !r.LastActive.IsZero() }, false},
}

// counterFamilies are cumulative counts (TYPE counter), families the
// gauges. The RabbitMQ queue counts are known or not by themselves (nil
// while the management API has none), whatever the queue's depth figures.
var counterFamilies = []family{
	{"mqctl_queue_published_messages_total", "Messages published to the RabbitMQ queue, as the management API counts them (message_stats.publish); rate() of it is the publish rate.",
		func(r Row) (string, bool) { return count(r, r.Published) }, false},
	{"mqctl_queue_delivered_messages_total", "Messages delivered from the RabbitMQ queue, to consumers and basic.get (message_stats.deliver_get).",
		func(r Row) (string, bool) { return count(r, r.Delivered) }, false},
	{"mqctl_queue_acked_messages_total", "Messages acknowledged on the RabbitMQ queue (message_stats.ack).",
		func(r Row) (string, bool) { return count(r, r.Acked) }, false},
}

// series is one row with its rendered label set.
type series struct {
	labels string
	row    Row
}

// Prometheus writes rows in the text exposition format: one family per
// quantity (gauges, and the RabbitMQ queues' cumulative counts as
// counters), HELP and TYPE once per family, families without a known sample
// left out. Label names are sorted and values escaped per the format. Rows
// with the same labels would be duplicate series, which Prometheus rejects,
// so only the first of them is written.
func Prometheus(w io.Writer, rows []Row) error {
	var b strings.Builder
	last := ""
	for _, m := range Metrics(rows) {
		if m.Family != last {
			b.WriteString("# HELP " + m.Family + " " + helpEscaper.Replace(m.Help) + "\n")
			b.WriteString("# TYPE " + m.Family + " " + m.Type + "\n")
			last = m.Family
		}
		b.WriteString(m.Family + labels(m.Row) + " " + m.Value + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Metric is one sample of a row: what `lag -o prometheus` writes and
// `mqctl serve` exports, so the two cannot disagree.
type Metric struct {
	Family, Help string
	Type         string // "gauge" or "counter", as the text format's TYPE line spells it
	Row          Row
	Value        string // as the text format spells it
}

// Metrics lists rows' samples family by family, series sorted by labels,
// unknown values left out, duplicate series (same labels) written once.
func Metrics(rows []Row) []Metric {
	all := make([]series, 0, len(rows))
	for _, r := range rows {
		all = append(all, series{labels: labels(r), row: r})
	}
	// Sorting by labels makes the output stable whatever the row order;
	// the stable sort keeps the first duplicate first.
	slices.SortStableFunc(all, func(a, b series) int { return strings.Compare(a.labels, b.labels) })
	all = slices.CompactFunc(all, func(a, b series) bool { return a.labels == b.labels })

	var out []Metric
	for _, kind := range []struct {
		typ      string
		families []family
	}{{"gauge", families}, {"counter", counterFamilies}} {
		for _, f := range kind.families {
			for _, s := range all {
				v, ok := f.value(s.row)
				if !ok || !s.row.CountsKnown() && f.counts {
					continue
				}
				out = append(out, Metric{Family: f.name, Help: f.help, Type: kind.typ, Row: s.row, Value: v})
			}
		}
	}
	return out
}

// LabelNames are the label names of every lag series, sorted.
var LabelNames = []string{"broker", "consumer", "context", "group", "partition", "queue", "stream", "topic"}

// LabelValues are r's values for LabelNames ("" for a label the row does
// not have, which Prometheus treats as absent).
func LabelValues(r Row) []string {
	partition := ""
	if r.Partition >= 0 {
		partition = strconv.Itoa(int(r.Partition))
	}
	return []string{r.Broker, r.Consumer, r.Context, r.Group, partition, r.Queue, r.Stream, r.Topic}
}

// labels renders the row's context as {name="value",...} with names in
// sorted order; empty values are left out because Prometheus treats an
// empty label as an absent one.
func labels(r Row) string {
	var parts []string
	for i, v := range LabelValues(r) {
		if v != "" {
			parts = append(parts, LabelNames[i]+`="`+escapeLabel(v)+`"`)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "{" + strings.Join(parts, ",") + "}"
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

// escapeLabel escapes per the text format and replaces invalid UTF-8, which
// the format does not allow, so any queue name yields a parseable line.
func escapeLabel(s string) string {
	return labelEscaper.Replace(strings.ToValidUTF8(s, "\uFFFD"))
}

func integer(v int64) string { return strconv.FormatInt(v, 10) }

// count is a queue row's cumulative count, known when the broker gave it.
func count(r Row, n *int64) (string, bool) {
	if n == nil || !isQueue(r) {
		return "", false
	}
	return integer(*n), true
}

// float writes NaN and ±Inf the way the format spells them.
func float(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func seconds(d time.Duration) string { return float(d.Seconds()) }

func unixSeconds(t time.Time) string { return float(float64(t.UnixMilli()) / 1000) }

// ContextUp writes mqctl_context_up, 1 for each context that answered and
// 0 for each that did not, so a scrape of several contexts tells a failed
// context from one with nothing to report. up maps context names to
// whether they answered.
func ContextUp(w io.Writer, up map[string]bool) error {
	if len(up) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("# HELP mqctl_context_up Whether the context answered: 1 yes, 0 no (its rows are missing).\n")
	b.WriteString("# TYPE mqctl_context_up gauge\n")
	for _, name := range slices.Sorted(maps.Keys(up)) {
		v := "0"
		if up[name] {
			v = "1"
		}
		b.WriteString(`mqctl_context_up{context="` + escapeLabel(name) + `"} ` + v + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
