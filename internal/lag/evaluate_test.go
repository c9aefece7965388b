package lag

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)

// script turns (committed, end, lag) triples into samples 10s apart from t0.
func script(points ...[3]int64) []Sample {
	out := make([]Sample, len(points))
	for i, p := range points {
		out[i] = Sample{At: t0.Add(time.Duration(i) * 10 * time.Second), Committed: p[0], End: p[1], Lag: p[2]}
	}
	return out
}

func TestEvaluate(t *testing.T) {
	const window = time.Minute
	cases := []struct {
		name    string
		samples []Sample
		now     time.Duration // since t0
		want    Status
	}{
		{"no samples", nil, 0,
			Status{Code: OK, Reason: "warming up: 0 of 2 samples"}},
		{"one sample", script([3]int64{100, 200, 100}), 0,
			Status{Code: OK, Reason: "warming up: 1 of 2 samples"}},
		{"caught up", script([3]int64{100, 110, 10}, [3]int64{110, 110, 0}), 10 * time.Second,
			Status{Code: OK, Trend: -10, Reason: "caught up"}},
		{"progressing, lag up and down", script([3]int64{100, 120, 20}, [3]int64{110, 140, 30}, [3]int64{140, 145, 5}), 20 * time.Second,
			Status{Code: OK, Trend: -15, Reason: "lag not growing"}},
		{"committing but falling behind", script([3]int64{100, 110, 10}, [3]int64{105, 125, 20}, [3]int64{110, 130, 20}, [3]int64{120, 150, 30}), 30 * time.Second,
			Status{Code: Warn, Trend: 20, Reason: "lag grew from 10 to 30 over 30s"}},
		{"lag dipped once is not WARN", script([3]int64{100, 110, 10}, [3]int64{105, 125, 20}, [3]int64{120, 135, 15}, [3]int64{125, 155, 30}), 30 * time.Second,
			Status{Code: OK, Trend: 20, Reason: "lag not growing"}},
		{"flat lag while committing is OK", script([3]int64{100, 110, 10}, [3]int64{110, 120, 10}, [3]int64{120, 130, 10}), 20 * time.Second,
			Status{Code: OK, Reason: "lag not growing"}},
		{"stuck while messages arrive", script([3]int64{100, 110, 10}, [3]int64{100, 120, 20}, [3]int64{100, 130, 30}), 20 * time.Second,
			Status{Code: Stall, Trend: 20, Reason: "committed offset 100 not moving while end offset advanced by 20"}},
		{"stuck for a whole window", script([3]int64{100, 110, 10}, [3]int64{100, 120, 20}, [3]int64{100, 130, 30}, [3]int64{100, 140, 40}, [3]int64{100, 150, 50}, [3]int64{100, 160, 60}, [3]int64{100, 170, 70}), time.Minute,
			Status{Code: Stop, Trend: 60, Reason: "committed offset 100 unchanged for 1m0s with lag 70"}},
		{"no poll for a window after the samples", script([3]int64{100, 110, 10}, [3]int64{100, 110, 10}), 90 * time.Second,
			Status{Code: Stop, Reason: "committed offset 100 unchanged for 1m30s with lag 10"}},
		{"not moving, nothing arriving, window not over", script([3]int64{100, 110, 10}, [3]int64{100, 110, 10}, [3]int64{100, 110, 10}), 20 * time.Second,
			Status{Code: OK, Reason: "lag not growing"}},
		{"offset moved back", script([3]int64{100, 150, 50}, [3]int64{120, 150, 30}, [3]int64{50, 160, 110}), 20 * time.Second,
			Status{Code: Rewind, Trend: 60, Reason: "committed offset moved back from 120 to 50"}},
		{"rewind is reported even when caught up", script([3]int64{100, 100, 0}, [3]int64{90, 90, 0}), 10 * time.Second,
			Status{Code: Rewind, Reason: "committed offset moved back from 100 to 90"}},
		{"zero lag in the window is no STOP", script([3]int64{100, 100, 0}, [3]int64{100, 105, 5}, [3]int64{100, 105, 5}), 2 * time.Minute,
			Status{Code: Warn, Trend: 5, Reason: "lag grew from 0 to 5 over 20s"}},
		{"no committed offset: only lag rules", script([3]int64{-1, -1, 5}, [3]int64{-1, -1, 5}, [3]int64{-1, -1, 5}), time.Hour,
			Status{Code: OK, Reason: "lag not growing"}},
		{"no committed offset, queue growing", script([3]int64{-1, -1, 5}, [3]int64{-1, -1, 8}, [3]int64{-1, -1, 9}), 20 * time.Second,
			Status{Code: Warn, Trend: 4, Reason: "lag grew from 5 to 9 over 20s"}},
		{"no end offset: no STALL, growing lag is WARN", script([3]int64{100, -1, 10}, [3]int64{100, -1, 20}), 10 * time.Second,
			Status{Code: Warn, Trend: 10, Reason: "lag grew from 10 to 20 over 10s"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Evaluate(tc.samples, t0.Add(tc.now), window)
			if got != tc.want {
				t.Errorf("Evaluate = %+v\nwant       %+v", got, tc.want)
			}
		})
	}
}
