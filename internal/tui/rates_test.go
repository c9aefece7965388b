package tui

import (
	"testing"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/lag"
)

func TestBetween(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(d time.Duration, written int64, read map[string]int64) position {
		return position{at: t0.Add(d), written: written, read: read}
	}
	for _, tc := range []struct {
		name      string
		prev, cur position
		want      flow
	}{
		{"in and the fastest consumer's out", at(0, 100, map[string]int64{"a": 10, "b": 50}), at(2*time.Second, 140, map[string]int64{"a": 30, "b": 54}),
			flow{in: 20, out: 10, inOK: true, outOK: true}},
		{"nothing moved", at(0, 5, map[string]int64{"a": 5}), at(time.Second, 5, map[string]int64{"a": 5}),
			flow{inOK: true, outOK: true}},
		{"written unknown", at(0, -1, nil), at(time.Second, -1, nil), flow{}},
		{"a recreated topic gives no rate", at(0, 100, nil), at(time.Second, 3, nil), flow{}},
		{"a rewound group gives no out", at(0, 10, map[string]int64{"a": 9}), at(time.Second, 12, map[string]int64{"a": 2}),
			flow{in: 2, inOK: true}},
		{"a consumer new since prev has no out yet", at(0, 10, map[string]int64{}), at(time.Second, 10, map[string]int64{"a": 7}),
			flow{inOK: true}},
		{"no time between the samples", at(0, 1, nil), at(0, 9, nil), flow{}},
		{"clock went back", at(time.Second, 1, nil), at(0, 9, nil), flow{}},
	} {
		if got := between(tc.prev, tc.cur); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestPositions(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	dests := []broker.Destination{
		{Type: "topic", Name: "orders", Written: 30},
		{Type: "stream", Name: "ORDERS", Written: 9},
		{Type: "queue", Name: "payments"},
	}
	rows := []lag.Row{
		{Kind: lag.KindPartition, Topic: "orders", Group: "billing", Partition: 0, Committed: 4},
		{Kind: lag.KindPartition, Topic: "orders", Group: "billing", Partition: 1, Committed: 6},
		{Kind: lag.KindPartition, Topic: "orders", Group: "audit", Partition: 0, Committed: 7},
		{Kind: lag.KindPartition, Topic: "orders", Group: "audit", Partition: 1, Committed: lag.Unknown},
		{Kind: lag.KindPartition, Topic: "gone", Group: "billing", Partition: 0, Committed: 1},
		{Kind: lag.KindConsumer, Stream: "ORDERS", Consumer: "worker", Committed: 8},
		{Kind: lag.KindQueue, Queue: "payments", Lag: 3},
	}
	got := positions(now, dests, rows)
	if len(got) != 3 {
		t.Fatalf("positions %+v", got)
	}
	if p := got["orders"]; p.written != 30 || len(p.read) != 1 || p.read["billing"] != 10 || !p.at.Equal(now) {
		t.Errorf("orders %+v: billing sums its partitions, audit (one commit unknown) is left out", p)
	}
	if p := got["ORDERS"]; p.written != 9 || p.read["worker"] != 8 {
		t.Errorf("ORDERS %+v", p)
	}
	if p := got["payments"]; p.written != -1 || len(p.read) != 0 {
		t.Errorf("a queue's written count is unknown: %+v", p)
	}
}

func TestRateCell(t *testing.T) {
	for _, tc := range []struct {
		r    float64
		ok   bool
		want string
	}{{0, false, "-"}, {0, true, "0.0"}, {2.25, true, "2.2"}, {9.96, true, "10.0"}, {1234.5, true, "1234"}} {
		if got := rateCell(tc.r, tc.ok); got != tc.want {
			t.Errorf("rateCell(%v, %v) = %q, want %q", tc.r, tc.ok, got, tc.want)
		}
	}
}
