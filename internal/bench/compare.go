package bench

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mqctl/mqctl/internal/output"
)

// Comparison is runs side by side: one row per metric, a value per run
// and, for numbers, each run's ratio to the first run.
type Comparison struct {
	Runs []string        `json:"runs"`
	Rows []ComparisonRow `json:"rows"`
	// Parity, for bench --compare, says which settings were matched.
	Parity []string `json:"parity,omitempty"`
}

// ComparisonRow is one metric across the runs. Ratios[i] is Values[i]
// over Values[0] (nil for text, or when the first run's value is 0).
type ComparisonRow struct {
	Metric string     `json:"metric"`
	Values []string   `json:"values"`
	Ratios []*float64 `json:"ratios,omitempty"`
}

// ParseSummary reads a kept run (-o json, or a distributed run's report)
// and checks it is one.
func ParseSummary(b []byte) (Summary, error) {
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("not a bench summary (-o json): %v", err)
	}
	// A distributed run's report compares by its merged total.
	var d struct {
		Workers json.RawMessage `json:"workers"`
		Total   *Summary        `json:"total"`
	}
	if json.Unmarshal(b, &d) == nil && d.Workers != nil && d.Total != nil {
		s = *d.Total
	}
	if s.V != 1 {
		return s, fmt.Errorf("not a bench summary (-o json): version %d, want 1", s.V)
	}
	for _, l := range s.Latency {
		if len(l.Encoded) == 0 {
			continue
		}
		h, err := hdr.Decode([]byte(l.Encoded))
		if err != nil {
			return s, fmt.Errorf("%s histogram: %v", l.Name, err)
		}
		if h.TotalCount() != l.Count {
			return s, fmt.Errorf("%s histogram holds %d values, the summary says %d", l.Name, h.TotalCount(), l.Count)
		}
	}
	return s, nil
}

// Compare lines up runs named names (names[i] for runs[i]).
func Compare(names []string, runs []Summary) Comparison {
	c := Comparison{Runs: names}
	text := func(metric string, f func(Summary) string) {
		r := ComparisonRow{Metric: metric}
		for _, s := range runs {
			r.Values = append(r.Values, f(s))
		}
		c.Rows = append(c.Rows, r)
	}
	num := func(metric string, f func(Summary) (float64, bool), show func(float64) string) {
		r := ComparisonRow{Metric: metric, Ratios: make([]*float64, len(runs))}
		base, baseOK := f(runs[0])
		for i, s := range runs {
			v, ok := f(s)
			if !ok {
				r.Values = append(r.Values, "")
				continue
			}
			r.Values = append(r.Values, show(v))
			if i > 0 && baseOK && base != 0 {
				q := v / base
				r.Ratios[i] = &q
			}
		}
		c.Rows = append(c.Rows, r)
	}
	count := func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }
	field := func(g func(Summary) float64) func(Summary) (float64, bool) {
		return func(s Summary) (float64, bool) { return g(s), true }
	}
	text("broker", func(s Summary) string { return s.Broker })
	text("workload", func(s Summary) string { return workloadText(s.Workload) })
	if slices.ContainsFunc(runs, func(s Summary) bool { return len(s.Flags) > 0 }) {
		text("flags", func(s Summary) string { return flagsText(s.Flags) })
	}
	num("elapsed", field(func(s Summary) float64 { return s.ElapsedSec }), func(v float64) string { return fmt.Sprintf("%.1fs", v) })
	num("sent", field(func(s Summary) float64 { return float64(s.Sent) }), count)
	num("confirmed", field(func(s Summary) float64 { return float64(s.Confirmed) }), count)
	num("failed", field(func(s Summary) float64 { return float64(s.Failed) }), count)
	num("received", field(func(s Summary) float64 { return float64(s.Received) }), count)
	num("lost", field(func(s Summary) float64 { return float64(s.Lost) }), count)
	num("duplicated", field(func(s Summary) float64 { return float64(s.Duplicated) }), count)
	num("msg/s", field(func(s Summary) float64 { return s.MsgsPerSec }), count)
	num("MiB/s", field(func(s Summary) float64 { return s.MiBPerSec }), func(v float64) string { return fmt.Sprintf("%.2f", v) })
	for _, name := range latencyNames(runs) {
		for _, q := range []struct {
			label string
			get   func(Latency) int64
		}{
			{"p50", func(l Latency) int64 { return l.P50 }},
			{"p99", func(l Latency) int64 { return l.P99 }},
			{"p99.9", func(l Latency) int64 { return l.P999 }},
			{"max", func(l Latency) int64 { return l.Max }},
		} {
			num(name+" "+q.label, func(s Summary) (float64, bool) {
				for _, l := range s.Latency {
					if l.Name == name && l.Count > 0 {
						return float64(q.get(l)), true
					}
				}
				return 0, false
			}, func(v float64) string { return us(int64(v)) })
		}
	}
	return c
}

// latencyNames lists the histograms of any run, in first-seen order.
func latencyNames(runs []Summary) []string {
	var names []string
	seen := map[string]bool{}
	for _, s := range runs {
		for _, l := range s.Latency {
			if !seen[l.Name] {
				seen[l.Name] = true
				names = append(names, l.Name)
			}
		}
	}
	return names
}

// flagsText is a run's broker flags as they can be typed again:
// "--acks=1 --compression=snappy" (a bool flag needs the "=").
func flagsText(flags map[string]string) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(flags)) {
		parts = append(parts, "--"+name+"="+flags[name])
	}
	return strings.Join(parts, " ")
}

func workloadText(w Workload) string {
	s := fmt.Sprintf("%s %dp/%dc %dB", w.Mode, w.Producers, w.Consumers, w.Size)
	if w.Rate > 0 {
		s += fmt.Sprintf(" %g/s", w.Rate)
	}
	if w.Count > 0 {
		s += fmt.Sprintf(" n=%d", w.Count)
	}
	if w.Duration > 0 {
		s += " " + w.Duration.String()
	}
	return s
}

// Table shows each run's value, and after every run but the first its
// ratio to the first ("1.25x"; "-" when it has none).
func (c Comparison) Table() output.Table {
	t := output.Table{Header: []string{"METRIC"}}
	for i, n := range c.Runs {
		t.Header = append(t.Header, n)
		if i > 0 {
			t.Header = append(t.Header, "/"+c.Runs[0])
		}
	}
	for _, r := range c.Rows {
		row := []string{r.Metric}
		for i, v := range r.Values {
			row = append(row, v)
			if i == 0 {
				continue
			}
			switch {
			case r.Ratios == nil:
				row = append(row, "")
			case r.Ratios[i] == nil:
				row = append(row, "-")
			default:
				row = append(row, fmt.Sprintf("%.2fx", *r.Ratios[i]))
			}
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}
