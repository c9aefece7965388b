package lag

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/mqctl/mqctl/internal/nagios"
)

// absentQueue is a RabbitMQ queue the management API has no figures for.
func absentQueue(name string) Row {
	r := queueRow(name, 0)
	r.Stats = StatsAbsent
	return r
}

// A queue without figures is not an empty queue: its counts are "?" in the
// table, null in JSON, no sample in Prometheus, UNKNOWN in a check.
func TestUnknownCountsAreNotZero(t *testing.T) {
	rows := []Row{absentQueue("fresh"), queueRow("old", 4)}
	rows[1].Stats = StatsSampled

	header, cells := Table(rows, nil)
	col := func(name string) int { return slices.Index(header, name) }
	if col("STATS") < 0 {
		t.Fatalf("no STATS column: %q", header)
	}
	for _, name := range []string{"LAG", "READY", "UNACKED", "CONSUMERS"} {
		if got := cells[0][col(name)]; got != "?" {
			t.Errorf("%s of a queue without figures: %q, want ?", name, got)
		}
	}
	if cells[0][col("STATS")] != StatsAbsent || cells[1][col("LAG")] != "4" {
		t.Errorf("cells %q", cells)
	}

	var b bytes.Buffer
	if err := WriteJSON(&b, rows); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if lag, ok := got[0]["lag"]; !ok || lag != nil || got[0]["stats"] != StatsAbsent {
		t.Errorf("JSON of a queue without figures: %v", got[0])
	}
	if _, ok := got[0]["ready"]; ok {
		t.Errorf("JSON gives a ready count it does not know: %v", got[0])
	}
	if got[1]["lag"] != 4.0 || got[1]["stats"] != StatsSampled {
		t.Errorf("JSON of a sampled queue: %v", got[1])
	}

	b.Reset()
	if err := Prometheus(&b, rows); err != nil {
		t.Fatal(err)
	}
	samples, err := parseProm(b.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range samples {
		if s.labels["queue"] == "fresh" {
			t.Errorf("a sample for a queue without figures: %+v", s)
		}
	}

	code, line := Check(rows, Thresholds{CritLag: 100}, nil)
	if code != nagios.Unknown || !strings.Contains(line, "queue=fresh") || !strings.Contains(line, "missing=counts") {
		t.Errorf("check: %d %q", code, line)
	}
}

// A queue read over AMQP alone (the management API unreachable) has no
// unacked count and no rates: "?" in the table, left out of JSON and
// Prometheus, never a 0 that reads as "nothing in flight, 0 msg/s". Its
// ready count, consumers and lag (ready alone) are known.
func TestPartialCountsLeaveOutUnackedAndRates(t *testing.T) {
	partial := queueRow("amqp", 7)
	partial.Consumers, partial.Stats = 2, StatsPartial
	rows := []Row{partial}

	header, cells := Table(rows, nil)
	col := func(name string) string {
		if i := slices.Index(header, name); i >= 0 {
			return cells[0][i]
		}
		return "no " + name + " column"
	}
	for name, want := range map[string]string{"LAG": "7", "READY": "7", "CONSUMERS": "2", "STATS": StatsPartial,
		"UNACKED": "?", "PUBLISH/S": "?", "DELIVER/S": "?", "ACK/S": "?"} {
		if got := col(name); got != want {
			t.Errorf("table %s = %q, want %q", name, got, want)
		}
	}

	var b bytes.Buffer
	if err := WriteJSON(&b, rows); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got[0]["lag"] != 7.0 || got[0]["ready"] != 7.0 || got[0]["consumers"] != 2.0 || got[0]["stats"] != StatsPartial {
		t.Errorf("JSON: %v", got[0])
	}
	for _, unknown := range []string{"unacked", "publish_rate", "deliver_rate", "ack_rate"} {
		if v, ok := got[0][unknown]; ok {
			t.Errorf("JSON gives %s %v, which a passive declare does not tell", unknown, v)
		}
	}

	b.Reset()
	if err := Prometheus(&b, rows); err != nil {
		t.Fatal(err)
	}
	samples, err := parseProm(b.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	have := map[string]float64{}
	for _, s := range samples {
		have[s.name] = s.value
	}
	want := map[string]float64{"mqctl_lag_messages": 7, "mqctl_queue_ready_messages": 7, "mqctl_queue_consumers": 2}
	if !maps.Equal(have, want) {
		t.Errorf("samples %v, want only %v\n%s", have, want, b.String())
	}
}

func TestJSONReportListsFailedContexts(t *testing.T) {
	rows := []Row{kafkaRow(0, 5, 0)}
	rows[0].Context = "a"
	failures := []Failure{NewFailure("b", errors.New(`dial "x": refused`))}
	for _, tc := range []struct {
		name string
		rows []Row
	}{{"with rows", rows}, {"no rows", nil}} {
		var b bytes.Buffer
		if err := WriteJSONReport(&b, tc.rows, failures); err != nil {
			t.Fatal(err)
		}
		// The same bytes encoding/json writes for the same entries.
		entries := []any{}
		for _, r := range tc.rows {
			entries = append(entries, r.wire())
		}
		entries = append(entries, failures[0])
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		if err := enc.Encode(entries); err != nil {
			t.Fatal(err)
		}
		if b.String() != want.String() {
			t.Errorf("%s:\n%s\nwant\n%s", tc.name, b.String(), want.String())
		}
	}
	var b bytes.Buffer
	if err := WriteJSONLReport(&b, rows, failures); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || lines[1] != `{"context":"b","kind":"error","error":"dial \"x\": refused"}` {
		t.Errorf("jsonl:\n%s", b.String())
	}
}

func TestContextUp(t *testing.T) {
	var b bytes.Buffer
	if err := ContextUp(&b, map[string]bool{"b": false, "a": true}); err != nil {
		t.Fatal(err)
	}
	samples, err := parseProm(b.String())
	if err != nil {
		t.Fatalf("%v:\n%s", err, b.String())
	}
	if len(samples) != 2 || samples[0].labels["context"] != "a" || samples[0].value != 1 || samples[1].value != 0 {
		t.Errorf("samples %+v", samples)
	}
}

// A narrow terminal drops rates and details first and never the identity,
// LAG or STATUS.
func TestLayout(t *testing.T) {
	rows := []Row{kafkaRow(0, 5, 0), queueRow("q", 3), consumerRow("S", "c", 2)}
	rows[0].Context, rows[1].Context, rows[2].Context = "k", "r", "n"
	statuses := map[string]Status{}
	header, _ := Table(rows, statuses)
	short, drop, shorten := Layout(rows, statuses)
	if len(short) != len(header) {
		t.Fatalf("short %q for header %q", short, header)
	}
	var dropped []string
	for _, i := range drop {
		dropped = append(dropped, header[i])
	}
	for _, keep := range []string{"CONTEXT", "GROUP/QUEUE/STREAM", "TOPIC/CONSUMER", "PARTITION", "LAG", "STATUS"} {
		if slices.Contains(dropped, keep) || !slices.Contains(header, keep) {
			t.Errorf("%s is dropped or missing: header %q, dropped %q", keep, header, dropped)
		}
	}
	if dropped[0] != "PUBLISH/S" || dropped[len(dropped)-1] != "TREND" {
		t.Errorf("drop order %q", dropped)
	}
	if short[slices.Index(header, "GROUP/QUEUE/STREAM")] != "NAME" || short[slices.Index(header, "TOPIC/CONSUMER")] != "TOPIC/CONS" {
		t.Errorf("short titles %q", short)
	}
	var shortened []string
	for _, i := range shorten {
		shortened = append(shortened, header[i])
	}
	if !slices.Equal(shortened, []string{"CONTEXT", "GROUP/QUEUE/STREAM", "TOPIC/CONSUMER"}) {
		t.Errorf("shortened %q", shortened)
	}
	if got := DroppedFirst(); got[0] != "PUBLISH/S" || got[len(got)-1] != "TREND" {
		t.Errorf("DroppedFirst %q", got)
	}
}
