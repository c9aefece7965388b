package lag

import (
	"slices"
	"testing"
	"time"
)

func TestWindowKeepsLastK(t *testing.T) {
	cases := []struct {
		k, added int
		wantLags []int64
	}{
		{k: 3, added: 0, wantLags: nil},
		{k: 3, added: 2, wantLags: []int64{0, 1}},
		{k: 3, added: 3, wantLags: []int64{0, 1, 2}},
		{k: 3, added: 7, wantLags: []int64{4, 5, 6}},
		{k: 3, added: 9, wantLags: []int64{6, 7, 8}},
		{k: 0, added: 5, wantLags: []int64{3, 4}}, // raised to 2
	}
	for _, tc := range cases {
		w := NewWindow(tc.k)
		for i := range tc.added {
			w.Add("p0", Sample{At: t0.Add(time.Duration(i) * time.Second), Lag: int64(i)})
		}
		var lags []int64
		for _, s := range w.Samples("p0") {
			lags = append(lags, s.Lag)
		}
		if !slices.Equal(lags, tc.wantLags) {
			t.Errorf("k=%d after %d adds: lags %v, want %v", tc.k, tc.added, lags, tc.wantLags)
		}
		if r := w.series["p0"]; r != nil && cap(r.buf) > max(tc.k, 2) {
			t.Errorf("k=%d: buffer grew to %d", tc.k, cap(r.buf))
		}
	}
}

func TestWindowSamplesIsACopy(t *testing.T) {
	w := NewWindow(2)
	w.Add("k", Sample{Lag: 1})
	w.Samples("k")[0].Lag = 99
	if got := w.Samples("k")[0].Lag; got != 1 {
		t.Errorf("caller changed the window: lag %d", got)
	}
}

func TestWindowObservePruneStatuses(t *testing.T) {
	gone := Row{Broker: BrokerKafka, Kind: KindPartition, Group: "g", Topic: "t", Partition: 0, Committed: 5, End: 10, Lag: 5}
	stuck := Row{Broker: BrokerKafka, Kind: KindPartition, Group: "g", Topic: "t", Partition: 1, Committed: 7, End: 10, Lag: 3}
	w := NewWindow(3)
	w.Observe(t0, []Row{gone, stuck})
	for i := 1; i <= 3; i++ {
		stuck.End += 10
		stuck.Lag += 10
		w.Observe(t0.Add(time.Duration(i)*10*time.Second), []Row{stuck})
	}
	if got := len(w.Samples(stuck.Key())); got != 3 {
		t.Fatalf("stuck has %d samples, want 3", got)
	}
	w.Prune(t0.Add(5 * time.Second))
	if w.Samples(gone.Key()) != nil {
		t.Error("Prune kept a key whose newest sample is older than the cutoff")
	}
	st := w.Statuses()
	if len(st) != 1 {
		t.Fatalf("Statuses has %d keys, want 1: %v", len(st), st)
	}
	want := Status{Code: Stall, Trend: 20, Reason: "committed offset 7 unchanged for 4 samples with lag 33"}
	if got := st[stuck.Key()]; got != want {
		t.Errorf("status %+v, want %+v", got, want)
	}
}

func TestWindowCountsStill(t *testing.T) {
	w := NewWindow(2)
	var got []int
	for _, c := range []int64{5, 5, 5, 6, 6, -1, 7} {
		w.Add("k", Sample{Committed: c})
		s := w.Samples("k")
		got = append(got, s[len(s)-1].Still)
	}
	if want := []int{1, 2, 3, 1, 2, 0, 1}; !slices.Equal(got, want) {
		t.Errorf("Still %v, want %v", got, want)
	}
}

// A queue without management figures (Stats absent, Lag 0) adds no
// sample: its window keeps what was measured, so a stalled queue does not
// turn OK because its broker restarted.
func TestWindowObserveSkipsUnknownCounts(t *testing.T) {
	q := Row{Broker: BrokerRabbitMQ, Kind: KindQueue, Queue: "jobs", Lag: 7}
	w := NewWindow(3)
	w.Observe(t0, []Row{q})
	absent := q
	absent.Lag, absent.Stats = 0, StatsAbsent
	w.Observe(t0.Add(10*time.Second), []Row{absent})
	got := w.Samples(q.Key())
	if len(got) != 1 || got[0].Lag != 7 {
		t.Errorf("samples %+v, want only the measured lag 7", got)
	}
}
