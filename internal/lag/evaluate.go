package lag

import (
	"fmt"
	"time"
)

// Sample is one observation of a row, taken at At.
type Sample struct {
	At        time.Time
	Committed int64 // Unknown when the broker has no committed offset
	End       int64 // Unknown when the broker has no end offset
	Lag       int64
}

// Code is the verdict of Evaluate. Its values are what the STATUS column,
// JSON and the --check line print.
type Code string

// The codes, in the spirit of Burrow. The package comment defines them.
const (
	OK     Code = "OK"
	Warn   Code = "WARN"
	Stall  Code = "STALL"
	Stop   Code = "STOP"
	Rewind Code = "REWIND"
)

// Status is a row's verdict over its window.
type Status struct {
	Code   Code   `json:"code" yaml:"code"`
	Trend  int64  `json:"trend" yaml:"trend"` // newest lag minus oldest lag in the window
	Reason string `json:"reason,omitempty" yaml:"reason,omitempty"`
}

// warmupSamples is the fewest samples that can show movement.
const warmupSamples = 2

// Evaluate judges one row's samples, oldest first, by the rules in the
// package comment. window is the duration after which a consumer that has not
// committed is STOP rather than STALL; it should be positive, as a zero
// window makes every unmoving lagging row STOP at once.
func Evaluate(samples []Sample, now time.Time, window time.Duration) Status {
	n := len(samples)
	if n < warmupSamples {
		return Status{Code: OK, Reason: fmt.Sprintf("warming up: %d of %d samples", n, warmupSamples)}
	}
	first, last := samples[0], samples[n-1]
	trend := last.Lag - first.Lag
	status := func(c Code, format string, args ...any) Status {
		return Status{Code: c, Trend: trend, Reason: fmt.Sprintf(format, args...)}
	}

	offsets := true
	for _, s := range samples {
		offsets = offsets && s.Committed >= 0
	}
	if offsets {
		for i := 1; i < n; i++ {
			if prev, cur := samples[i-1].Committed, samples[i].Committed; cur < prev {
				return status(Rewind, "committed offset moved back from %d to %d", prev, cur)
			}
		}
	}

	if last.Lag == 0 {
		return status(OK, "caught up")
	}

	if offsets && first.Committed == last.Committed && allLagging(samples) {
		// With no rewind, equal first and last committed offsets mean the
		// offset was the same in every sample.
		if idle := now.Sub(first.At); idle >= window {
			return status(Stop, "committed offset %d unchanged for %s with lag %d", last.Committed, formatDuration(idle), last.Lag)
		}
		if first.End >= 0 && last.End > first.End {
			return status(Stall, "committed offset %d not moving while end offset advanced by %d", last.Committed, last.End-first.End)
		}
	}

	if trend > 0 && neverDecreased(samples) {
		return status(Warn, "lag grew from %d to %d over %s", first.Lag, last.Lag, formatDuration(last.At.Sub(first.At)))
	}
	return status(OK, "lag not growing")
}

func allLagging(samples []Sample) bool {
	for _, s := range samples {
		if s.Lag <= 0 {
			return false
		}
	}
	return true
}

func neverDecreased(samples []Sample) bool {
	for i := 1; i < len(samples); i++ {
		if samples[i].Lag < samples[i-1].Lag {
			return false
		}
	}
	return true
}
