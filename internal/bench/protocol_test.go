package bench

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// workerResult is a finished e2e run whose confirm latencies are vals
// (µs) and whose counts are n, lost and dup.
func workerResult(n, lost, dup int64, vals []int64) *Result {
	r := &Result{Workload: Workload{Mode: "e2e", Size: 100}, Elapsed: 2 * time.Second,
		Sent: n, Confirmed: n, Received: n - lost, Lost: lost, Duplicated: dup,
		Confirm: newHist(), E2E: newHist(), Delay: newHist()}
	for _, v := range vals {
		_ = r.Confirm.RecordValue(v)
		_ = r.E2E.RecordValue(2 * v)
	}
	return r
}

// TestMergeSummaries: counts add, histograms merge exactly (the merged
// percentiles are those of one histogram holding every value), and the
// merge survives the JSON round trip a worker's result takes.
func TestMergeSummaries(t *testing.T) {
	a := workerResult(1000, 3, 1, []int64{10, 20, 30, 5000})
	b := workerResult(500, 0, 2, []int64{15, 25, 90000})
	all := workerResult(0, 0, 0, []int64{10, 20, 30, 5000, 15, 25, 90000})
	var parts []Summary
	for _, r := range []*Result{a, b} {
		m, err := decodeControl(encodeControl(controlMsg{Type: msgResult, Summary: new(Summarize(r, "nats", "d"))}))
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, *m.Summary)
	}
	got, err := MergeSummaries(parts)
	if err != nil {
		t.Fatal(err)
	}
	if got.Sent != 1500 || got.Confirmed != 1500 || got.Received != 1497 || got.Lost != 3 || got.Duplicated != 3 {
		t.Errorf("counts %+v", got)
	}
	if got.MsgsPerSec != 750 || got.ElapsedSec != 2 {
		t.Errorf("throughput %v over %vs, want 750 over 2s", got.MsgsPerSec, got.ElapsedSec)
	}
	want := Summarize(all, "nats", "d").Latency
	if len(got.Latency) != len(want) {
		t.Fatalf("latencies %+v", got.Latency)
	}
	for i, l := range got.Latency {
		w := want[i]
		if l.Name != w.Name || l.Count != w.Count || l.P50 != w.P50 || l.P99 != w.P99 || l.Max != w.Max || l.Mean != w.Mean {
			t.Errorf("%s: merged %+v, one histogram %+v", l.Name, l, w)
		}
	}
	if got.Latency[0].Count != parts[0].Latency[0].Count+parts[1].Latency[0].Count {
		t.Errorf("merged count %d", got.Latency[0].Count)
	}
}

func TestMergeSummariesBadHistogram(t *testing.T) {
	s := Summarize(workerResult(1, 0, 0, []int64{1}), "nats", "d")
	s.Latency[0].Encoded = "HISTFAAAAnot-base64"
	if _, err := MergeSummaries([]Summary{s}); err == nil {
		t.Error("a corrupt histogram merged")
	}
}

func TestSplitWorkload(t *testing.T) {
	w := Workload{Count: 10, Rate: 300, Producers: 2}
	var sum int64
	for i := range 3 {
		s := splitWorkload(w, 3, i)
		sum += s.Count
		if s.Rate != 100 || s.Producers != 2 {
			t.Errorf("worker %d: %+v", i, s)
		}
	}
	if sum != 10 || splitWorkload(w, 3, 0).Count != 4 {
		t.Errorf("counts add up to %d", sum)
	}
	if d := splitWorkload(Workload{Duration: time.Second}, 3, 1); d.Count != 0 || d.Duration != time.Second {
		t.Errorf("duration run: %+v", d)
	}
}

func TestDecodeControlRefuses(t *testing.T) {
	for _, in := range []string{`{"v":2,"type":"hello"}`, `{"v":1}`, `not json`, `{"v":1,"type":"hello","sent":"x"}`} {
		if m, err := decodeControl([]byte(in)); err == nil {
			t.Errorf("%s: decoded %+v", in, m)
		}
	}
}

// TestStartRoundTrip: what a worker runs is what the leader sent.
func TestStartRoundTrip(t *testing.T) {
	w := Workload{Mode: "e2e", Producers: 3, Consumers: 2, Size: 512, Count: 7, Rate: 12.5, InFlight: 9, Warmup: time.Second}
	k := Knobs{Acks: "1", Linger: 5 * time.Millisecond, Partitions: 4, QueueType: "quorum", Storage: "memory", Replicas: 3, Prefetch: 100, Core: true}
	at := time.Date(2026, 12, 6, 4, 0, 0, 123, time.UTC)
	m, err := decodeControl(encodeControl(controlMsg{Type: msgStart, Run: "r", Destination: "d", Workload: &w, Knobs: &k, Payload: []byte{0, 1, 255}, StartAt: at}))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*m.Workload, w) || *m.Knobs != k || !m.StartAt.Equal(at) || string(m.Payload) != "\x00\x01\xff" || m.Destination != "d" {
		t.Errorf("got %+v %+v %+v", m, *m.Workload, *m.Knobs)
	}
}

// TestParseDistributed: bench compare reads a distributed run's report
// as its merged total.
func TestParseDistributed(t *testing.T) {
	total, err := MergeSummaries([]Summary{Summarize(workerResult(10, 0, 0, []int64{5}), "kafka", "d")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(Distributed{V: 1, Run: "r", Workers: []WorkerRow{{ID: "a", Status: WorkerOK}}, Total: total})
	s, err := ParseSummary(b)
	if err != nil || s.Sent != 10 || len(s.Latency) != 2 || s.Latency[0].Count != 1 {
		t.Errorf("%v: %+v", err, s)
	}
}
