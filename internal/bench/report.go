package bench

import (
	"fmt"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mqctl/mqctl/internal/output"
)

// Summary is the kept form of a run (-o json, version 1).
type Summary struct {
	V           int      `json:"v"`
	Broker      string   `json:"broker"`
	Destination string   `json:"destination"`
	Workload    Workload `json:"workload"`
	// Flags are the broker flags given for the run (name without "--" →
	// value, as typed: {"compression": "snappy"}), so a kept run says how
	// its broker was set up; a flag left at its default is not listed.
	Flags      map[string]string `json:"flags,omitempty"`
	ElapsedSec float64           `json:"elapsed_seconds"`
	Sent       int64             `json:"sent"`
	Confirmed  int64             `json:"confirmed"`
	Failed     int64             `json:"failed"`
	Received   int64             `json:"received"`
	Lost       int64             `json:"lost"`
	Duplicated int64             `json:"duplicated"`
	Foreign    int64             `json:"foreign,omitempty"`
	// Sub is bench sub's accounting (absent for pub and e2e).
	Sub         *SubCounts `json:"sub,omitempty"`
	Interrupted bool       `json:"interrupted,omitempty"`
	// Unconfirmed: nothing confirmed the messages counted in confirmed:
	// they were written to the connection (RabbitMQ --confirm=false) or
	// flushed (core NATS), so lost counts messages written and never
	// received, not messages the broker had promised to keep.
	Unconfirmed bool      `json:"unconfirmed,omitempty"`
	Error       string    `json:"error,omitempty"`
	MsgsPerSec  float64   `json:"msgs_per_sec"`
	MiBPerSec   float64   `json:"mib_per_sec"`
	Latency     []Latency `json:"latency"`
	// E2EClock is the clock the payloads' send times and the end-to-end
	// latency are on: "monotonic" (one process, the default) or "wall"
	// (--e2e-cross-host: Unix ns, the hosts' clocks must agree); absent
	// for a bench sub that measured nothing.
	E2EClock string `json:"e2e_clock,omitempty"`
	// E2ENotMeasured says, in one line, why a bench sub has no end-to-end
	// latency.
	E2ENotMeasured string `json:"e2e_not_measured,omitempty"`
	// With --e2e-cross-host: end-to-end values below zero (the clocks
	// disagree), left out of the histogram, and the largest of them; and
	// messages bench sub received without a wall-clock send time.
	E2ENegative      int64 `json:"e2e_negative,omitempty"`
	E2ENegativeMaxUs int64 `json:"e2e_negative_max_us,omitempty"`
	E2EUnstamped     int64 `json:"e2e_unstamped,omitempty"`
	// Timeline is the run second by second (the --csv rows).
	Timeline []TimelineRow `json:"timeline"`
}

// E2EWallName is the end-to-end row of a --e2e-cross-host run: taken
// between wall clocks, it is not comparable with a same-process one.
const E2EWallName = "end-to-end (wall clocks)"

// Latency is one histogram: percentiles in µs, and the histogram in
// HdrHistogram's V2 compressed encoding, base64 ("HISTF..."): the form
// HdrHistogram's logs use, which hdrhistogram-go's Decode and the Java/C
// tools read.
type Latency struct {
	Name    string  `json:"name"`
	Count   int64   `json:"count"`
	P50     int64   `json:"p50_us"`
	P90     int64   `json:"p90_us"`
	P99     int64   `json:"p99_us"`
	P999    int64   `json:"p99_9_us"`
	P9999   int64   `json:"p99_99_us"`
	Max     int64   `json:"max_us"`
	Mean    float64 `json:"mean_us"`
	Encoded string  `json:"hdr"`
}

func latency(name string, h *hdr.Histogram) Latency {
	enc, _ := h.Encode(hdr.V2CompressedEncodingCookieBase) // fails only on a zlib write to memory
	return Latency{
		Name: name, Count: h.TotalCount(),
		P50: h.ValueAtQuantile(50), P90: h.ValueAtQuantile(90), P99: h.ValueAtQuantile(99),
		P999: h.ValueAtQuantile(99.9), P9999: h.ValueAtQuantile(99.99), Max: h.Max(), Mean: h.Mean(),
		Encoded: string(enc),
	}
}

// Summarize turns a result into its kept form.
func Summarize(r *Result, brokerName, dest string) Summary {
	s := Summary{
		V: 1, Broker: brokerName, Destination: dest, Workload: r.Workload, ElapsedSec: r.Elapsed.Seconds(),
		Sent: r.Sent, Confirmed: r.Confirmed, Failed: r.Failed, Received: r.Received, Lost: r.Lost,
		Duplicated: r.Duplicated, Foreign: r.Foreign, Sub: r.Sub, Interrupted: r.Interrupted, Error: r.FirstError,
		Unconfirmed: r.Unconfirmed, E2EClock: r.E2EClock,
		E2ENegative: r.E2ENegative, E2ENegativeMaxUs: r.E2ENegativeMax.Microseconds(), E2EUnstamped: r.E2EUnstamped,
	}
	n, bytes := r.Confirmed, float64(r.Confirmed)*float64(r.Workload.Size)
	if r.Workload.Mode == "sub" {
		// What it read was sent by another run: its own sizes, not --size.
		n, bytes = r.Received+r.Duplicated+r.Foreign, float64(r.ReceivedBytes)
		if r.Sub != nil {
			n = r.Sub.Delivered
		}
	}
	if sec := r.Elapsed.Seconds(); sec > 0 {
		s.MsgsPerSec = float64(n) / sec
		s.MiBPerSec = bytes / sec / (1 << 20)
	}
	if r.Workload.Mode != "sub" {
		s.Latency = append(s.Latency, latency("publish→confirm", r.Confirm))
		if r.Workload.Rate > 0 {
			// Without a schedule every message is sent when intended:
			// the delay would be a column of zeros.
			s.Latency = append(s.Latency, latency("publish delay", r.Delay))
		}
	}
	e2eName := "end-to-end"
	if r.E2EClock == ClockWall {
		e2eName = E2EWallName
	}
	switch {
	case r.Workload.Mode == "e2e":
		s.Latency = append(s.Latency, latency(e2eName, r.E2E))
	case r.Workload.Mode != "sub":
	case !r.Workload.CrossHost:
		// No row of zeros: the send times are on the sender's monotonic clock.
		s.E2ENotMeasured = "end-to-end latency not measured: the send times in the payloads are on the sender's own clock; give --e2e-cross-host to bench pub and bench sub (the hosts' clocks must agree)"
	case r.Received == 0:
		s.E2ENotMeasured = "end-to-end latency not measured: nothing was received"
	case r.E2EUnstamped == r.Received+r.Foreign:
		s.E2ENotMeasured = fmt.Sprintf("end-to-end latency not measured: none of the %d messages received carried a wall-clock send time (publish with bench pub --e2e-cross-host)", r.E2EUnstamped)
	default:
		s.Latency = append(s.Latency, latency(e2eName, r.E2E))
	}
	for _, t := range r.Timeline {
		s.Timeline = append(s.Timeline, timelineRow(t, r.Workload.Size))
	}
	return s
}

func us(v int64) string { return (time.Duration(v) * time.Microsecond).String() }

// Table is the summary as the table printer shows it: the counts, then
// one row per latency.
func (s Summary) Table() output.Table {
	t := output.Table{Header: []string{"METRIC", "COUNT", "P50", "P90", "P99", "P99.9", "P99.99", "MAX"}}
	row := func(name string, v int64) {
		t.Rows = append(t.Rows, []string{name, fmt.Sprint(v), "", "", "", "", "", ""})
	}
	confirmed, lost := "confirmed", "lost"
	if s.Unconfirmed {
		confirmed, lost = "written (no confirms)", "lost (written, never received)"
	}
	if s.Sub == nil {
		row("sent", s.Sent)
		row(confirmed, s.Confirmed)
		row("failed", s.Failed)
	}
	row("received", s.Received)
	if s.Sub == nil {
		// bench sub cannot know what was confirmed: no row of "lost 0".
		row(lost, s.Lost)
	}
	row("duplicated", s.Duplicated)
	if s.Sub != nil {
		row("gaps (never received, below a later one)", s.Sub.Gaps)
		row("runs seen", s.Sub.Runs)
		row("producers seen", s.Sub.Producers)
		if s.Foreign > 0 {
			row("foreign (not bench payloads)", s.Foreign)
		}
		if s.Sub.Unchecked > 0 {
			row("unchecked (tracker window)", s.Sub.Unchecked)
		}
	}
	t.Rows = append(t.Rows, []string{"throughput", fmt.Sprintf("%.0f msg/s", s.MsgsPerSec), fmt.Sprintf("%.2f MiB/s", s.MiBPerSec), "", "", "", "", ""})
	for _, l := range s.Latency {
		t.Rows = append(t.Rows, []string{l.Name, fmt.Sprint(l.Count), us(l.P50), us(l.P90), us(l.P99), us(l.P999), us(l.P9999), us(l.Max)})
	}
	if s.E2EClock == ClockWall && s.Workload.Mode != "pub" && s.E2ENotMeasured == "" {
		most := ""
		if s.E2ENegative > 0 {
			most = "-" + us(s.E2ENegativeMaxUs)
		}
		t.Rows = append(t.Rows, []string{"end-to-end < 0 (clocks disagree)", fmt.Sprint(s.E2ENegative), "", "", "", "", "", most})
	}
	return t
}

// Notes are the lines a run's summary adds on stderr: why bench sub has no
// end-to-end latency, and what a wall-clock one left out.
func (s Summary) Notes() []string {
	var notes []string
	if s.E2ENotMeasured != "" {
		notes = append(notes, s.E2ENotMeasured)
	}
	if s.E2ENegative > 0 {
		notes = append(notes, fmt.Sprintf("%d end-to-end values were negative (received before sent, by up to %s): the clocks disagree, and every end-to-end figure is off by the same offset; the negative ones are not in the histogram",
			s.E2ENegative, us(s.E2ENegativeMaxUs)))
	}
	if s.E2EUnstamped > 0 && s.E2ENotMeasured == "" {
		notes = append(notes, fmt.Sprintf("%d of %d messages received carried no wall-clock send time (not sent by bench pub --e2e-cross-host); they are not in the end-to-end histogram", s.E2EUnstamped, s.Received+s.Foreign))
	}
	if s.Sub != nil && s.Sub.Gaps > 0 {
		notes = append(notes, fmt.Sprintf("%d sequence numbers were never received below a later one of the same producer: not proof of loss (the sender may have failed to send them, or a retention limit dropped them); bench pub's own summary says what was confirmed", s.Sub.Gaps))
	}
	return notes
}

// LiveLine is the per-second line on a terminal's stderr: the interval's
// rate (confirmed, or received by bench sub) and publish→confirm p99, the
// totals so far.
func LiveLine(t Tick, size int) string {
	rate, mib := tickRates(t, size)
	confirmed := "confirmed"
	if t.Unconfirmed {
		confirmed = "written"
	}
	if t.Sub {
		return fmt.Sprintf("%5.0fs  received %d  duplicated %d  gaps %d  %.0f msg/s  %.2f MiB/s",
			t.Elapsed.Seconds(), t.TotalReceived, t.TotalDuplicated, t.Gaps, rate, mib)
	}
	return fmt.Sprintf("%5.0fs  sent %d  "+confirmed+" %d  received %d  %.0f msg/s  %.2f MiB/s  p99 %s  in flight %d",
		t.Elapsed.Seconds(), t.TotalSent, t.TotalConfirmed, t.TotalReceived, rate, mib, us(t.Confirm.P99), t.InFlight)
}

// tickRates is an interval's throughput in msg/s and MiB/s: what was
// confirmed, of size bytes each, or what bench sub received.
func tickRates(t Tick, size int) (msgs, mib float64) {
	sec := t.Interval.Seconds()
	if sec <= 0 {
		return 0, 0
	}
	if t.Sub {
		return float64(t.Delivered) / sec, float64(t.ReceivedBytes) / sec / (1 << 20)
	}
	msgs = float64(t.Confirmed) / sec
	return msgs, msgs * float64(size) / (1 << 20)
}
