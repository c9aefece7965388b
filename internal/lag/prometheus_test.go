package lag

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// promSample is one parsed series.
type promSample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseProm is a strict parser for the subset of the text exposition format
// Prometheus writes: HELP and TYPE once per family and before its samples,
// families not interleaved, gauge only, label names valid, sorted and
// unique, values escaped with \\ \" \n only, no duplicate series, no
// timestamps, newline-terminated lines.
func parseProm(text string) ([]promSample, error) {
	if text == "" {
		return nil, nil
	}
	if !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("output does not end in a newline")
	}
	if !utf8.ValidString(text) {
		return nil, fmt.Errorf("output is not UTF-8")
	}
	var (
		out     []promSample
		help    = map[string]bool{}
		typ     = map[string]bool{}
		done    = map[string]bool{} // families whose block has ended
		current string
		seen    = map[string]bool{}
	)
	enter := func(name string) error {
		if name != current {
			if done[name] {
				return fmt.Errorf("family %s appears twice", name)
			}
			if current != "" {
				done[current] = true
			}
			current = name
		}
		return nil
	}
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		fail := func(format string, args ...any) ([]promSample, error) {
			return nil, fmt.Errorf("line %d %q: %s", i+1, line, fmt.Sprintf(format, args...))
		}
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, text, ok := strings.Cut(rest, " ")
			if !ok || !validName(name) || text == "" {
				return fail("bad HELP")
			}
			if err := enter(name); err != nil {
				return fail("%v", err)
			}
			if help[name] || typ[name] {
				return fail("HELP repeated or after TYPE")
			}
			if _, err := unescape(text, false); err != nil {
				return fail("%v", err)
			}
			help[name] = true
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, kind, _ := strings.Cut(rest, " ")
			if !validName(name) || kind != "gauge" || !help[name] || typ[name] {
				return fail("bad TYPE")
			}
			typ[name] = true
			continue
		}
		if strings.HasPrefix(line, "#") || line == "" {
			return fail("unexpected comment or blank line")
		}
		s, err := parseSample(line)
		if err != nil {
			return fail("%v", err)
		}
		if err := enter(s.name); err != nil {
			return fail("%v", err)
		}
		if !typ[s.name] {
			return fail("sample before TYPE")
		}
		id := s.name + fmt.Sprint(s.labels) // fmt sorts map keys
		if seen[id] {
			return fail("duplicate series")
		}
		seen[id] = true
		out = append(out, s)
	}
	return out, nil
}

func parseSample(line string) (promSample, error) {
	s := promSample{labels: map[string]string{}}
	end := strings.IndexAny(line, "{ ")
	if end < 0 {
		return s, fmt.Errorf("no value")
	}
	s.name, line = line[:end], line[end:]
	if !validName(s.name) {
		return s, fmt.Errorf("bad metric name %q", s.name)
	}
	if rest, ok := strings.CutPrefix(line, "{"); ok {
		prev := ""
		for {
			name, after, ok := strings.Cut(rest, `="`)
			if !ok || !validName(name) || strings.Contains(name, ":") {
				return s, fmt.Errorf("bad label name in %q", rest)
			}
			if name <= prev {
				return s, fmt.Errorf("label %q not sorted or repeated", name)
			}
			prev = name
			value, n, err := readQuoted(after)
			if err != nil {
				return s, err
			}
			if value == "" {
				return s, fmt.Errorf("empty label %q", name)
			}
			s.labels[name] = value
			rest = after[n:]
			if r, ok := strings.CutPrefix(rest, ","); ok {
				rest = r
				continue
			}
			if r, ok := strings.CutPrefix(rest, "}"); ok {
				line = r
				break
			}
			return s, fmt.Errorf("expected , or } in %q", rest)
		}
	}
	value, ok := strings.CutPrefix(line, " ")
	if !ok || strings.Contains(value, " ") {
		return s, fmt.Errorf("want exactly one value and no timestamp: %q", line)
	}
	v, err := strconv.ParseFloat(value, 64)
	if err != nil {
		return s, err
	}
	s.value = v
	return s, nil
}

// readQuoted reads an escaped label value up to its closing quote and
// returns it with the number of bytes consumed.
func readQuoted(s string) (string, int, error) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			v, err := unescape(s[:i], true)
			return v, i + 1, err
		case '\\':
			i++
		}
	}
	return "", 0, fmt.Errorf("unterminated label value")
}

func unescape(s string, quoteAllowed bool) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\n' {
			return "", fmt.Errorf("raw newline")
		}
		if c == '"' {
			return "", fmt.Errorf("unescaped quote")
		}
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		switch {
		case i == len(s):
			return "", fmt.Errorf("trailing backslash")
		case s[i] == '\\':
			b.WriteByte('\\')
		case s[i] == 'n':
			b.WriteByte('\n')
		case s[i] == '"' && quoteAllowed:
			b.WriteByte('"')
		default:
			return "", fmt.Errorf("bad escape \\%c", s[i])
		}
	}
	return b.String(), nil
}

func validName(s string) bool {
	for i, c := range s {
		letter := c == '_' || c == ':' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return s != ""
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
	c := consumerRow("ORDERS", "worker", 4)
	c.AckPending, c.Redelivered, c.Waiting, c.LastActive = 1, 2, 3, time.Date(2026, 3, 1, 3, 4, 5, 500e6, time.UTC)

	var b strings.Builder
	if err := Prometheus(&b, []Row{q, k, c, dup, k0}); err != nil {
		t.Fatal(err)
	}
	want := `# HELP mqctl_lag_messages Messages waiting: log end minus committed offset (Kafka), ready plus unacked (RabbitMQ), num_pending (JetStream).
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
# HELP mqctl_queue_publish_rate Messages published to the queue per second.
# TYPE mqctl_queue_publish_rate gauge
mqctl_queue_publish_rate{broker="rabbitmq",queue="jobs\\dead\nletter"} 0.5
# HELP mqctl_queue_deliver_rate Messages delivered from the queue per second.
# TYPE mqctl_queue_deliver_rate gauge
mqctl_queue_deliver_rate{broker="rabbitmq",queue="jobs\\dead\nletter"} 0
# HELP mqctl_queue_ack_rate Messages acknowledged on the queue per second.
# TYPE mqctl_queue_ack_rate gauge
mqctl_queue_ack_rate{broker="rabbitmq",queue="jobs\\dead\nletter"} 0.25
# HELP mqctl_queue_drain_seconds Estimated seconds until the queue is empty at the current rates.
# TYPE mqctl_queue_drain_seconds gauge
mqctl_queue_drain_seconds{broker="rabbitmq",queue="jobs\\dead\nletter"} 30
# HELP mqctl_consumer_ack_pending Messages delivered to the consumer and not yet acknowledged.
# TYPE mqctl_consumer_ack_pending gauge
mqctl_consumer_ack_pending{broker="nats",consumer="worker",stream="ORDERS"} 1
# HELP mqctl_consumer_redelivered Messages redelivered to the consumer.
# TYPE mqctl_consumer_redelivered gauge
mqctl_consumer_redelivered{broker="nats",consumer="worker",stream="ORDERS"} 2
# HELP mqctl_consumer_waiting Pull requests waiting on the consumer.
# TYPE mqctl_consumer_waiting gauge
mqctl_consumer_waiting{broker="nats",consumer="worker",stream="ORDERS"} 3
# HELP mqctl_consumer_last_active_timestamp_seconds Unix time of the consumer's last delivery or acknowledgement.
# TYPE mqctl_consumer_last_active_timestamp_seconds gauge
mqctl_consumer_last_active_timestamp_seconds{broker="nats",consumer="worker",stream="ORDERS"} 1772334245.5
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
		"unsorted labels":  head + `m{b="1",a="2"} 1` + "\n",
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
