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
	// Still is how many consecutive samples, this one included, have had
	// this committed offset; 0 when Committed is Unknown. Window.Add sets
	// it, so it counts samples that already left the window.
	Still int
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

// Status is a row's verdict over its window. Code "" is no verdict yet:
// the window is not full.
type Status struct {
	Code   Code   `json:"code" yaml:"code"`
	Trend  int64  `json:"trend" yaml:"trend"` // newest lag minus oldest lag in the window
	Reason string `json:"reason,omitempty" yaml:"reason,omitempty"`
}

// minSamples is the fewest samples that can show movement.
const minSamples = 2

// Evaluate judges one row's samples, oldest first, by the rules in the
// package comment; k is the number of samples a full window holds
// (--samples). It gives no verdict (Code "") before k samples are in: a
// judgement on part of the window changes as the window fills, which is
// how a stuck partition used to read OK, STALL, OK, STOP on consecutive
// refreshes. The rules count samples, not seconds, so a refresh that
// comes a little late or early cannot change a verdict either.
func Evaluate(samples []Sample, k int) Status {
	k = max(k, minSamples)
	n := len(samples)
	if n < k {
		return Status{Reason: fmt.Sprintf("warming up: %d of %d samples", n, k)}
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

	// With no rewind, equal first and last committed offsets mean the
	// offset was the same in every sample.
	if offsets && first.Committed == last.Committed && allLagging(samples) {
		still := max(last.Still, n)
		if still >= 2*k-1 {
			return status(Stop, "committed offset %d unchanged for %d samples (two windows) with lag %d", last.Committed, still, last.Lag)
		}
		return status(Stall, "committed offset %d unchanged for %d samples with lag %d", last.Committed, still, last.Lag)
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
