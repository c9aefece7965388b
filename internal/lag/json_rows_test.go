package lag

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"
)

// randomRows covers every field, every kind, zero and non-zero values,
// and strings encoding/json escapes.
func randomRows(n int) []Row {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"orders", "", "billing-v2", `quo"te`, "back\\slash", "<html>&", "ünïcode", "tab\there", "line\nbreak", "\u2028sep"}
	pick := func() string { return names[rng.IntN(len(names))] }
	floats := []float64{0, 1.5, 182, 1e-7, 3e21, 0.000123, 12345678.25, -2}
	durations := []time.Duration{0, 1500 * time.Millisecond, 3*time.Minute + 2*time.Second, 7 * time.Nanosecond}
	kinds := []string{KindPartition, KindQueue, KindConsumer}
	rows := make([]Row, n)
	for i := range rows {
		r := Row{
			Context: pick(), Broker: pick(), Kind: kinds[rng.IntN(3)], Group: pick(), Topic: pick(),
			Partition: int32(rng.IntN(4) - 1), Queue: pick(), Stream: pick(), Consumer: pick(),
			Committed: int64(rng.IntN(5) - 1), End: int64(rng.IntN(5) - 1), Lag: rng.Int64N(1 << 40),
			Member: pick(), ClientID: pick(), TimeLag: durations[rng.IntN(len(durations))], State: pick(),
			Ready: rng.Int64N(100), Unacked: rng.Int64N(3), Consumers: rng.IntN(3),
			PublishRate: floats[rng.IntN(len(floats))], DeliverRate: floats[rng.IntN(len(floats))], AckRate: floats[rng.IntN(len(floats))],
			DrainTime: durations[rng.IntN(len(durations))], AckPending: rng.Int64N(9), Redelivered: rng.Int64N(9), Waiting: rng.Int64N(9),
		}
		r.Stats = []string{"", StatsSampled, StatsAbsent, StatsExact, StatsBehind}[rng.IntN(5)]
		if rng.IntN(2) == 0 {
			r.LastActive = time.Date(2026, 3, 1, 3, 4, 5, rng.IntN(1e9), time.FixedZone("x", 3600*rng.IntN(3)))
		}
		rows[i] = r
	}
	return rows
}

// clipDiff shows where two outputs first differ.
func clipDiff(got, want string) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	lo := max(0, i-120)
	return "got:  ..." + got[lo:min(len(got), i+80)] + "\nwant: ..." + want[lo:min(len(want), i+80)]
}

// BenchmarkWriteJSON is the shape of `lag -o json` on 100 groups x 500
// partitions.
func BenchmarkWriteJSON(b *testing.B) {
	rows := make([]Row, 50000)
	for i := range rows {
		rows[i] = kafkaRow(int32(i%500), int64(i), 0)
		rows[i].Member, rows[i].ClientID, rows[i].State = "mqctl-bench-member-1", "bench", "Stable"
	}
	for b.Loop() {
		WriteJSON(&bytes.Buffer{}, rows)
	}
}
