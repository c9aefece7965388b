package tui

import (
	"fmt"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/lag"
)

// position is a destination's counters at one refresh: how much was ever
// written to it (Kafka end offsets, JetStream last sequence; -1 unknown)
// and how far each of its consumers got (committed offsets summed over
// the partitions a group commits on, a JetStream consumer's ack floor).
type position struct {
	at      time.Time
	written int64
	read    map[string]int64
}

// flow is a destination's rates in messages a second; a rate is known
// (the ok fields) once two samples exist.
type flow struct {
	in, out     float64
	inOK, outOK bool
}

// between computes the rates from prev to cur. A counter that went back
// (a topic recreated, a group rewound) gives no rate rather than a
// negative one; out is the fastest consumer's, as each consumer reads
// everything.
func between(prev, cur position) flow {
	dt := cur.at.Sub(prev.at).Seconds()
	var f flow
	if dt <= 0 {
		return f
	}
	if prev.written >= 0 && cur.written >= prev.written {
		f.in, f.inOK = float64(cur.written-prev.written)/dt, true
	}
	for c, n := range cur.read {
		p, seen := prev.read[c]
		if !seen || n < p {
			continue
		}
		if r := float64(n-p) / dt; !f.outOK || r > f.out {
			f.out, f.outOK = r, true
		}
	}
	return f
}

// positions collects each destination's position at now from a listing
// and the lag rows read with it. Partitions whose commit is unknown
// leave their group out, as its sum would jump when they commit.
func positions(now time.Time, dests []broker.Destination, rows []lag.Row) map[string]position {
	out := make(map[string]position, len(dests))
	for _, d := range dests {
		w := d.Written
		if d.Type == "queue" {
			w = -1 // a queue counts what it holds, not what it was sent
		}
		out[d.Name] = position{at: now, written: w, read: map[string]int64{}}
	}
	unknown := map[[2]string]bool{}
	for _, r := range rows {
		var dest, who string
		switch r.Kind {
		case lag.KindPartition:
			dest, who = r.Topic, r.Group
		case lag.KindConsumer:
			dest, who = r.Stream, r.Consumer
		default:
			continue
		}
		p, ok := out[dest]
		if !ok {
			continue
		}
		if r.Committed == lag.Unknown {
			unknown[[2]string{dest, who}] = true
			continue
		}
		p.read[who] += r.Committed
	}
	for k := range unknown {
		delete(out[k[0]].read, k[1])
	}
	return out
}

// queueFlow is a queue's rates as its broker averages them (RabbitMQ's
// management API: publish and deliver/get), from its lag row.
func queueFlow(r lag.Row) flow {
	if r.Stats == lag.StatsAbsent {
		return flow{}
	}
	return flow{in: r.PublishRate, out: r.DeliverRate, inOK: true, outOK: true}
}

// rateCell shows a rate in messages a second, "-" when unknown.
func rateCell(r float64, ok bool) string {
	switch {
	case !ok:
		return "-"
	case r < 10:
		return fmt.Sprintf("%.1f", r)
	}
	return fmt.Sprintf("%.0f", r)
}

// rateKey sorts rates in thousandths of a message a second, unknown
// below zero.
func rateKey(r float64, ok bool) int64 {
	if !ok {
		return -1
	}
	return int64(r * 1000)
}
