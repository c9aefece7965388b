package produce

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// latency buckets grow by 10% from 10µs: 200 buckets reach beyond 30 min,
// so percentiles are within 10% in constant memory whatever the volume.
const (
	latencyBuckets = 200
	latencyBase    = 10 * time.Microsecond
	latencyGrowth  = 1.1
)

// Stats count what happened to the input; safe for concurrent use.
type Stats struct {
	Sent      atomic.Int64
	Confirmed atomic.Int64
	Failed    atomic.Int64
	Invalid   atomic.Int64
	latency   [latencyBuckets]atomic.Int64
}

func bucketOf(d time.Duration) int {
	if d <= latencyBase {
		return 0
	}
	b := int(math.Log(float64(d)/float64(latencyBase))/math.Log(latencyGrowth)) + 1
	return min(b, latencyBuckets-1)
}

func bucketUpper(b int) time.Duration {
	return time.Duration(float64(latencyBase) * math.Pow(latencyGrowth, float64(b)))
}

// observe records one confirm latency.
func (s *Stats) observe(d time.Duration) { s.latency[bucketOf(d)].Add(1) }

// Percentile returns the latency below which p (0..1) of the confirms came,
// as the upper bound of its bucket; 0 without confirms.
func (s *Stats) Percentile(p float64) time.Duration {
	var total int64
	for i := range s.latency {
		total += s.latency[i].Load()
	}
	if total == 0 {
		return 0
	}
	want := int64(math.Ceil(p * float64(total)))
	var seen int64
	for i := range s.latency {
		seen += s.latency[i].Load()
		if seen >= want {
			return bucketUpper(i)
		}
	}
	return bucketUpper(latencyBuckets - 1)
}

// Summary is the one-line report printed on stderr at the end.
func (s *Stats) Summary(elapsed time.Duration) string {
	rate := 0.0
	if elapsed > 0 {
		rate = float64(s.Confirmed.Load()) / elapsed.Seconds()
	}
	line := fmt.Sprintf("sent %d, confirmed %d, failed %d", s.Sent.Load(), s.Confirmed.Load(), s.Failed.Load())
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
