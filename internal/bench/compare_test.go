package bench

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// result is a run with n confirms of lat µs each.
func result(n int64, lat int64, elapsed time.Duration) *Result {
	h := newHist()
	for range n {
		_ = h.RecordValue(lat)
	}
	return &Result{Workload: Workload{Mode: "pub", Producers: 1, Consumers: 1, Size: 100, Count: n, InFlight: 1},
		Elapsed: elapsed, Sent: n, Confirmed: n, Confirm: h, Delay: newHist(), E2E: newHist(),
		Timeline: []Tick{{Elapsed: elapsed, Interval: elapsed, Sent: n, Confirmed: n, TotalSent: n, TotalConfirmed: n}}}
}

// TestSummaryKeepsHistograms: -o json carries the workload and the full
// histograms: decoded, they give back every value.
func TestSummaryKeepsHistograms(t *testing.T) {
	s := Summarize(result(1000, 250, time.Second), "nats", "d")
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseSummary(b)
	if err != nil {
		t.Fatal(err)
	}
	if back.Workload.Count != 1000 || back.Workload.Size != 100 || len(back.Timeline) != 1 || back.Timeline[0].MsgsPerSec != 1000 {
		t.Errorf("workload %+v timeline %+v", back.Workload, back.Timeline)
	}
	h, err := hdr.Decode([]byte(back.Latency[0].Encoded))
	if err != nil {
		t.Fatal(err)
	}
	if h.TotalCount() != 1000 || !h.ValuesAreEquivalent(h.ValueAtQuantile(99), 250) {
		t.Errorf("decoded histogram: %d values, p99 %d", h.TotalCount(), h.ValueAtQuantile(99))
	}
}

func TestParseSummaryRefuses(t *testing.T) {
	good, _ := json.Marshal(Summarize(result(10, 5, time.Second), "nats", "d"))
	if !bytes.Contains(good, []byte(`"hdr":"HISTF`)) {
		t.Errorf("histogram not in HdrHistogram's base64 form: %s", good)
	}
	lying := bytes.Replace(good, []byte(`confirm","count":10,`), []byte(`confirm","count":11,`), 1)
	for name, in := range map[string][]byte{
		"not json":      []byte("hello"),
		"not a summary": []byte(`{"a":1}`),
		"count differs": lying,
	} {
		if _, err := ParseSummary(in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCompareRatios(t *testing.T) {
	a := Summarize(result(1000, 100, time.Second), "kafka", "a")
	b := Summarize(result(2000, 300, time.Second), "nats", "b")
	c := Compare([]string{"a", "b"}, []Summary{a, b})
	rows := map[string]ComparisonRow{}
	for _, r := range c.Rows {
		rows[r.Metric] = r
	}
	if r := rows["msg/s"]; r.Values[0] != "1000" || r.Values[1] != "2000" || *r.Ratios[1] != 2 {
		t.Errorf("msg/s row %+v", r)
	}
	if r := rows["publish→confirm p50"]; r.Ratios[1] == nil || *r.Ratios[1] < 2.9 || *r.Ratios[1] > 3.1 {
		t.Errorf("p50 row %+v", r)
	}
	if r := rows["lost"]; r.Ratios[1] != nil {
		t.Errorf("a ratio to 0: %+v", r)
	}
	if r := rows["broker"]; r.Ratios != nil || r.Values[1] != "nats" {
		t.Errorf("broker row %+v", r)
	}
	tab := c.Table()
	if strings.Join(tab.Header, ",") != "METRIC,a,b,/a" {
		t.Errorf("header %q", tab.Header)
	}
	for _, row := range tab.Rows {
		if row[0] == "msg/s" && row[3] != "2.00x" {
			t.Errorf("row %q", row)
		}
		if row[0] == "lost" && row[3] != "-" {
			t.Errorf("row %q", row)
		}
	}
}

// TestCompareFlags: runs kept with different broker flags say so in a
// flags row (a Kafka run with snappy against one without is not like for
// like); runs without any flags have no such row.
func TestCompareFlags(t *testing.T) {
	a := Summarize(result(1000, 100, time.Second), "kafka", "a")
	b := Summarize(result(2000, 300, time.Second), "kafka", "b")
	b.Flags = map[string]string{"compression": "snappy", "acks": "1"}
	j, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := ParseSummary(j)
	if err != nil || kept.Flags["compression"] != "snappy" {
		t.Fatalf("kept flags %v, err %v", kept.Flags, err)
	}
	rows := map[string]ComparisonRow{}
	for _, r := range Compare([]string{"a", "b"}, []Summary{a, kept}).Rows {
		rows[r.Metric] = r
	}
	if r, ok := rows["flags"]; !ok || r.Values[0] != "" || r.Values[1] != "--acks=1 --compression=snappy" || r.Ratios != nil {
		t.Errorf("flags row %+v (present %v)", r, ok)
	}
	for _, r := range Compare([]string{"a", "a2"}, []Summary{a, a}).Rows {
		if r.Metric == "flags" {
			t.Errorf("a flags row for runs without flags: %+v", r)
		}
	}
}

func TestCSVRows(t *testing.T) {
	var buf bytes.Buffer
	c := NewCSV(&buf, 1<<20)
	c.Row(Tick{Elapsed: 2 * time.Second, Interval: 500 * time.Millisecond, Sent: 10, Confirmed: 10, Confirm: TickLatency{Count: 10, P50: 7, P99: 9, Max: 11}})
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil || c.Err() != nil {
		t.Fatal(err, c.Err())
	}
	if len(recs) != 2 || len(recs[0]) != len(recs[1]) {
		t.Fatalf("records %q", recs)
	}
	got := map[string]string{}
	for i, h := range recs[0] {
		got[h] = recs[1][i]
	}
	if got["msgs_per_sec"] != "20.000" || got["mib_per_sec"] != "20.000" || got["confirm_p99_us"] != "9" || got["elapsed_seconds"] != "2.000" {
		t.Errorf("row %v", got)
	}
}
