package bench

import (
	"encoding/csv"
	"io"
	"strconv"
)

// TimelineRow is one Tick as kept in JSON and written to --csv: counts in
// the interval, rates over it, and the interval's latencies in µs.
type TimelineRow struct {
	ElapsedSec     float64 `json:"elapsed_seconds"`
	IntervalSec    float64 `json:"interval_seconds"`
	Sent           int64   `json:"sent"`
	Confirmed      int64   `json:"confirmed"`
	Failed         int64   `json:"failed"`
	Received       int64   `json:"received"`
	InFlight       int64   `json:"in_flight"`
	MsgsPerSec     float64 `json:"msgs_per_sec"`
	MiBPerSec      float64 `json:"mib_per_sec"`
	RecvPerSec     float64 `json:"received_per_sec"`
	ConfirmP50     int64   `json:"confirm_p50_us"`
	ConfirmP99     int64   `json:"confirm_p99_us"`
	ConfirmMax     int64   `json:"confirm_max_us"`
	E2EP50         int64   `json:"e2e_p50_us"`
	E2EP99         int64   `json:"e2e_p99_us"`
	E2EMax         int64   `json:"e2e_max_us"`
	DelayP99       int64   `json:"publish_delay_p99_us"`
	DelayMax       int64   `json:"publish_delay_max_us"`
	ConfirmSamples int64   `json:"confirm_samples"`
	// Duplicated in the interval; Gaps (bench sub) so far.
	Duplicated int64 `json:"duplicated"`
	Gaps       int64 `json:"gaps,omitempty"`
}

func timelineRow(t Tick, size int) TimelineRow {
	r := TimelineRow{
		ElapsedSec: t.Elapsed.Seconds(), IntervalSec: t.Interval.Seconds(),
		Sent: t.Sent, Confirmed: t.Confirmed, Failed: t.Failed, Received: t.Received, InFlight: t.InFlight,
		ConfirmP50: t.Confirm.P50, ConfirmP99: t.Confirm.P99, ConfirmMax: t.Confirm.Max,
		E2EP50: t.E2E.P50, E2EP99: t.E2E.P99, E2EMax: t.E2E.Max,
		DelayP99: t.Delay.P99, DelayMax: t.Delay.Max, ConfirmSamples: t.Confirm.Count,
		Duplicated: t.Duplicated, Gaps: t.Gaps,
	}
	r.MsgsPerSec, r.MiBPerSec = tickRates(t, size)
	if sec := t.Interval.Seconds(); sec > 0 {
		r.RecvPerSec = float64(t.Received) / sec
	}
	return r
}

var csvHeader = []string{"elapsed_seconds", "interval_seconds", "sent", "confirmed", "failed", "received", "in_flight",
	"msgs_per_sec", "mib_per_sec", "received_per_sec", "confirm_p50_us", "confirm_p99_us", "confirm_max_us",
	"e2e_p50_us", "e2e_p99_us", "e2e_max_us", "publish_delay_p99_us", "publish_delay_max_us", "confirm_samples", "duplicated", "gaps"}

// CSV writes the timeline as it comes: the header first, then a row per
// tick, flushed at once so a long run's file can be followed.
type CSV struct {
	w    *csv.Writer
	size int
	err  error
}

// NewCSV writes the header to w; size is the payload size, for MiB/s.
func NewCSV(w io.Writer, size int) *CSV {
	c := &CSV{w: csv.NewWriter(w), size: size}
	c.write(csvHeader)
	return c
}

func (c *CSV) write(rec []string) {
	if c.err != nil {
		return
	}
	if err := c.w.Write(rec); err != nil {
		c.err = err
		return
	}
	c.w.Flush()
	c.err = c.w.Error()
}

// Row writes one tick.
func (c *CSV) Row(t Tick) {
	r := timelineRow(t, c.size)
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	c.write([]string{f(r.ElapsedSec), f(r.IntervalSec), i(r.Sent), i(r.Confirmed), i(r.Failed), i(r.Received), i(r.InFlight),
		f(r.MsgsPerSec), f(r.MiBPerSec), f(r.RecvPerSec), i(r.ConfirmP50), i(r.ConfirmP99), i(r.ConfirmMax),
		i(r.E2EP50), i(r.E2EP99), i(r.E2EMax), i(r.DelayP99), i(r.DelayMax), i(r.ConfirmSamples), i(r.Duplicated), i(r.Gaps)})
}

// Err is the first write error.
func (c *CSV) Err() error { return c.err }
