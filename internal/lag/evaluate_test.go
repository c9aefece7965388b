package lag

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)

// script turns (committed, end, lag) triples into samples 10s apart from
// t0, through a Window of k so that Still is counted as a watch counts it.
func script(k int, points ...[3]int64) []Sample {
	w := NewWindow(len(points) + k)
	for i, p := range points {
		w.Add("x", Sample{At: t0.Add(time.Duration(i) * 10 * time.Second), Committed: p[0], End: p[1], Lag: p[2]})
	}
	s := w.Samples("x")
	return s[max(0, len(s)-k):]
}

func TestEvaluate(t *testing.T) {
	cases := []struct {
		name    string
		k       int
		samples []Sample
		want    Status
	}{
		{"no samples", 3, nil,
			Status{Reason: "warming up: 0 of 3 samples"}},
		{"a window not full yet has no verdict", 3, script(3, [3]int64{100, 200, 100}, [3]int64{100, 210, 110}),
			Status{Reason: "warming up: 2 of 3 samples"}},
		{"caught up", 2, script(2, [3]int64{100, 110, 10}, [3]int64{110, 110, 0}),
			Status{Code: OK, Trend: -10, Reason: "caught up"}},
		{"progressing, lag up and down", 3, script(3, [3]int64{100, 120, 20}, [3]int64{110, 140, 30}, [3]int64{140, 145, 5}),
			Status{Code: OK, Trend: -15, Reason: "lag not growing"}},
		{"committing but falling behind", 4, script(4, [3]int64{100, 110, 10}, [3]int64{105, 125, 20}, [3]int64{110, 130, 20}, [3]int64{120, 150, 30}),
			Status{Code: Warn, Trend: 20, Reason: "lag grew from 10 to 30 over 30s"}},
		{"lag dipped once is not WARN", 4, script(4, [3]int64{100, 110, 10}, [3]int64{105, 125, 20}, [3]int64{120, 135, 15}, [3]int64{125, 155, 30}),
			Status{Code: OK, Trend: 20, Reason: "lag not growing"}},
		{"flat lag while committing is OK", 3, script(3, [3]int64{100, 110, 10}, [3]int64{110, 120, 10}, [3]int64{120, 130, 10}),
			Status{Code: OK, Reason: "lag not growing"}},
		{"stuck while messages arrive", 3, script(3, [3]int64{100, 110, 10}, [3]int64{100, 120, 20}, [3]int64{100, 130, 30}),
			Status{Code: Stall, Trend: 20, Reason: "committed offset 100 unchanged for 3 samples with lag 30"}},
		{"stuck, nothing arriving", 3, script(3, [3]int64{100, 110, 10}, [3]int64{100, 110, 10}, [3]int64{100, 110, 10}),
			Status{Code: Stall, Reason: "committed offset 100 unchanged for 3 samples with lag 10"}},
		{"stuck for two windows", 3, script(3, [3]int64{100, 110, 10}, [3]int64{100, 120, 20}, [3]int64{100, 130, 30}, [3]int64{100, 140, 40}, [3]int64{100, 150, 50}),
			Status{Code: Stop, Trend: 20, Reason: "committed offset 100 unchanged for 5 samples (two windows) with lag 50"}},
		{"offset moved back", 3, script(3, [3]int64{100, 150, 50}, [3]int64{120, 150, 30}, [3]int64{50, 160, 110}),
			Status{Code: Rewind, Trend: 60, Reason: "committed offset moved back from 120 to 50"}},
		{"rewind is reported even when caught up", 2, script(2, [3]int64{100, 100, 0}, [3]int64{90, 90, 0}),
			Status{Code: Rewind, Reason: "committed offset moved back from 100 to 90"}},
		{"zero lag in the window is no STALL", 3, script(3, [3]int64{100, 100, 0}, [3]int64{100, 105, 5}, [3]int64{100, 105, 5}),
			Status{Code: Warn, Trend: 5, Reason: "lag grew from 0 to 5 over 20s"}},
		{"no committed offset: only lag rules", 3, script(3, [3]int64{-1, -1, 5}, [3]int64{-1, -1, 5}, [3]int64{-1, -1, 5}),
			Status{Code: OK, Reason: "lag not growing"}},
		{"no committed offset, queue growing", 3, script(3, [3]int64{-1, -1, 5}, [3]int64{-1, -1, 8}, [3]int64{-1, -1, 9}),
			Status{Code: Warn, Trend: 4, Reason: "lag grew from 5 to 9 over 20s"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Evaluate(tc.samples, tc.k); got != tc.want {
				t.Errorf("Evaluate = %+v\nwant       %+v", got, tc.want)
			}
		})
	}
}

// watchStatuses feeds rows of one key through a Window of k, one refresh
// per point (committed, end, lag), with the given gaps between refreshes,
// and returns the STATUS column a watch shows after each.
func watchStatuses(k int, gaps []time.Duration, points ...[3]int64) string {
	w := NewWindow(k)
	at := t0
	var out []string
	for i, p := range points {
		if i > 0 {
			at = at.Add(gaps[(i-1)%len(gaps)])
		}
		r := Row{Broker: BrokerKafka, Kind: KindPartition, Group: "billing", Topic: "orders", Partition: 0, Committed: p[0], End: p[1], Lag: p[2]}
		w.Observe(at, []Row{r})
		st, ok := w.Statuses()[r.Key()]
		if !ok {
			out = append(out, "-")
			continue
		}
		out = append(out, string(st.Code))
	}
	return strings.Join(out, " ")
}

// The sequences below flickered in lag --watch: the evaluator judged a
// window that was not full yet, and told STOP from STALL by whether the
// newest refresh came a few milliseconds after or before a whole window.
func TestEvaluateDoesNotFlicker(t *testing.T) {
	second := time.Second
	jitter := []time.Duration{second + 10*time.Millisecond, second - 20*time.Millisecond, second + 5*time.Millisecond, second - 5*time.Millisecond}
	cases := []struct {
		name   string
		k      int
		gaps   []time.Duration
		points [][3]int64
		want   string
	}{
		// The sandbox's billing partition 0: never committed, a record
		// now and then. It read OK, STALL, OK, STOP.
		{"stuck partition, records now and then", 3, jitter,
			[][3]int64{{0, 26, 26}, {0, 26, 26}, {0, 27, 27}, {0, 27, 27}, {0, 27, 27}, {0, 28, 28}, {0, 28, 28}, {0, 28, 28}},
			"- - STALL STALL STOP STOP STOP STOP"},
		{"same data, steady refreshes", 3, []time.Duration{second},
			[][3]int64{{0, 26, 26}, {0, 26, 26}, {0, 27, 27}, {0, 27, 27}, {0, 27, 27}, {0, 28, 28}, {0, 28, 28}, {0, 28, 28}},
			"- - STALL STALL STOP STOP STOP STOP"},
		{"a consumer that resumes", 3, jitter,
			[][3]int64{{5, 10, 5}, {5, 10, 5}, {5, 12, 7}, {5, 12, 7}, {9, 12, 3}, {12, 12, 0}, {12, 13, 1}},
			"- - STALL STALL OK OK OK"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := watchStatuses(tc.k, tc.gaps, tc.points...); got != tc.want {
				t.Errorf("statuses %q\nwant     %q", got, tc.want)
			}
		})
	}
}

// The verdict depends on the samples, not on how long a refresh took.
func TestEvaluateIgnoresRefreshTiming(t *testing.T) {
	points := [][3]int64{{0, 26, 26}, {0, 27, 27}, {0, 27, 27}, {0, 27, 27}}
	want := watchStatuses(3, []time.Duration{time.Second}, points...)
	for _, gap := range []time.Duration{time.Millisecond, 999 * time.Millisecond, 1001 * time.Millisecond, time.Hour} {
		if got := watchStatuses(3, []time.Duration{gap}, points...); got != want {
			t.Errorf("refreshes %s apart: %q, want %q", gap, got, want)
		}
	}
}
