package produce

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/output"
)

// Confirm latencies are recorded in microseconds from 1µs to one hour with
// three significant digits: percentiles are within 0.1% in constant memory
// whatever the volume. Longer latencies are recorded as one hour.
const (
	latencyMin    = 1
	latencyMax    = int64(time.Hour / time.Microsecond)
	latencyDigits = 3
)

// Stats count what happened to the input; safe for concurrent use. Every
// message read is sent or not sent; every message sent is confirmed, a
// duplicate or failed.
type Stats struct {
	// Sent counts messages handed to the broker's client.
	Sent atomic.Int64
	// NotSent counts messages read but never handed to the broker's
	// client: the run was interrupted first, or a flag rejected them.
	NotSent atomic.Int64
	// Confirmed counts messages the broker confirmed as stored now.
	Confirmed atomic.Int64
	// Duplicates counts messages a JetStream stream confirmed as stored
	// before (same Nats-Msg-Id within its duplicate window): in the
	// stream, but not written by this run.
	Duplicates atomic.Int64
	Failed     atomic.Int64
	Invalid    atomic.Int64

	// latency is not safe for concurrent use: latencyMu guards it.
	latencyMu sync.Mutex
	latency   *hdrhistogram.Histogram

	// reasons counts failures by broker.ReasonOf, in the order first seen.
	reasonsMu sync.Mutex
	reasons   []reasonCount
}

type reasonCount struct {
	reason string
	n      int64
}

// maxReasons bounds the distinct reasons kept; later ones are counted
// together as "other".
const maxReasons = 64

// fail counts one failed message under the reason of err.
func (s *Stats) fail(err error) {
	s.Failed.Add(1)
	reason := broker.ReasonOf(err)
	s.reasonsMu.Lock()
	defer s.reasonsMu.Unlock()
	for i := range s.reasons {
		if s.reasons[i].reason == reason {
			s.reasons[i].n++
			return
		}
	}
	if len(s.reasons) == maxReasons {
		reason = "other"
		for i := range s.reasons {
			if s.reasons[i].reason == reason {
				s.reasons[i].n++
				return
			}
		}
	}
	s.reasons = append(s.reasons, reasonCount{reason, 1})
}

// shownReasons is how many reasons Reasons names before it sums up the rest.
const shownReasons = 3

// Reasons says why messages failed, most frequent reason first (ties in
// the order they first happened): "2 × NO_ROUTE (312), 1 × MESSAGE_TOO_LARGE".
// It names at most three reasons and sums up the others, so the line stays
// short whatever happened; broker texts in it are made safe for a terminal.
func (s *Stats) Reasons() string {
	s.reasonsMu.Lock()
	rs := slices.Clone(s.reasons)
	s.reasonsMu.Unlock()
	slices.SortStableFunc(rs, func(a, b reasonCount) int { return cmp.Compare(b.n, a.n) })
	var parts []string
	var restN, restMsgs int64
	for i, r := range rs {
		if i >= shownReasons {
			restN++
			restMsgs += r.n
			continue
		}
		parts = append(parts, fmt.Sprintf("%d × %s", r.n, output.TerminalSafe(r.reason)))
	}
	if restN > 0 {
		parts = append(parts, fmt.Sprintf("%d more for %d other reasons", restMsgs, restN))
	}
	return strings.Join(parts, ", ")
}

// observe records one confirm latency.
func (s *Stats) observe(d time.Duration) {
	us := min(max(d.Microseconds(), latencyMin), latencyMax)
	s.latencyMu.Lock()
	defer s.latencyMu.Unlock()
	if s.latency == nil {
		s.latency = hdrhistogram.New(latencyMin, latencyMax, latencyDigits)
	}
	_ = s.latency.RecordValue(us) // in range by the clamp above
}

// Percentile returns the latency below which p (0..1) of the confirms came,
// at microsecond resolution; 0 without confirms.
func (s *Stats) Percentile(p float64) time.Duration {
	s.latencyMu.Lock()
	defer s.latencyMu.Unlock()
	if s.latency == nil || s.latency.TotalCount() == 0 {
		return 0
	}
	// ValueAtQuantile takes a percent (99.0), not a fraction.
	return time.Duration(s.latency.ValueAtQuantile(p*100)) * time.Microsecond
}

// Summary is the one-line report printed on stderr at the end.
func (s *Stats) Summary(elapsed time.Duration) string {
	rate := 0.0
	if elapsed > 0 {
		rate = float64(s.Confirmed.Load()) / elapsed.Seconds()
	}
	line := fmt.Sprintf("sent %d, confirmed %d, failed %d", s.Sent.Load(), s.Confirmed.Load(), s.Failed.Load())
	if n := s.NotSent.Load(); n > 0 {
		// Sent and not sent add up to what was read; say so, as "sent"
		// alone reads like everything.
		line = fmt.Sprintf("read %d: %s, not sent %d", s.Sent.Load()+n, line, n)
	}
	if n := s.Duplicates.Load(); n > 0 {
		line += fmt.Sprintf(", duplicates %d (the stream had them already and did not store them again)", n)
	}
	if n := s.Invalid.Load(); n > 0 {
		line += fmt.Sprintf(", invalid %d", n)
	}
	return line + fmt.Sprintf(" in %s (%.0f msgs/s); confirm latency p50 %s p99 %s",
		elapsed.Round(time.Millisecond), rate, roundLatency(s.Percentile(0.5)), roundLatency(s.Percentile(0.99)))
}

func roundLatency(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}
