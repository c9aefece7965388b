// Package view renders lag rows for a person or a program: tables fitted
// to a terminal, JSON, JSONL, YAML, the Prometheus text format, a --watch
// refresh drawn in place and a --check verdict. It holds no connection;
// rows come from internal/lag/source.
package view

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/lag/source"
	"github.com/mqctl/mqctl/internal/output"
)

// Print renders rows in format; statuses come with --watch, rep with
// several contexts.
func Print(s *output.Streams, format output.Format, rows []lag.Row, statuses map[string]lag.Status, rep *source.Report) error {
	var failures []lag.Failure
	if rep != nil {
		failures = rep.Failures
	}
	switch format.Name {
	case "prometheus":
		if err := lag.Prometheus(output.TextOut(s), rows); err != nil {
			return err
		}
		if rep != nil {
			return lag.ContextUp(output.TextOut(s), rep.Up)
		}
		return nil
	case "json":
		return lag.WriteJSONReport(s.Out, rows, failures)
	case "jsonl":
		return lag.WriteJSONLReport(s.Out, rows, failures)
	case "yaml":
		entries := make([]any, 0, len(rows)+len(failures))
		for _, r := range rows {
			entries = append(entries, r)
		}
		for _, fl := range failures {
			entries = append(entries, fl)
		}
		return output.List(s, format, entries, nil)
	case "table":
		t, _ := Table(s, format, rows, statuses, 0)
		return output.PrintTable(s, t)
	}
	return output.List(s, format, rows, nil)
}

// Table shapes rows as a table. On a terminal, unless -o wide, it fits
// the terminal's width as it is now, and its height less reserved lines
// when reserved is above 0 (a watch); see lag.Layout for what gives way.
func Table(s *output.Streams, format output.Format, rows []lag.Row, statuses map[string]lag.Status, reserved int) (output.Table, output.Fitted) {
	h, cells := lag.Table(rows, statuses)
	t := output.Table{Header: h, Rows: cells}
	if s.Color {
		t.Colors = colorStatus(h, cells)
	}
	width, height := s.TermSize()
	if format.Wide || width == 0 {
		return t, output.Fitted{}
	}
	short, drop, shorten := lag.Layout(rows, statuses)
	fit := output.Fit{Width: width, Abbrev: short, Drop: drop, Shorten: shorten}
	if reserved > 0 {
		fit.Height = max(height-reserved, 2)
	}
	return output.FitTable(t, fit)
}

// statusColors are ANSI colours for the evaluation codes on a terminal.
var statusColors = map[string]string{
	string(lag.OK): "32", string(lag.Warn): "33", string(lag.Stall): "31",
	string(lag.Stop): "31;1", string(lag.Rewind): "35",
}

// colorStatus gives the STATUS column its colours (output.Table.Colors);
// NO_COLOR and --no-color turn it off.
func colorStatus(header []string, cells [][]string) [][]string {
	col := slices.Index(header, "STATUS")
	if col < 0 {
		return nil
	}
	colors := make([][]string, len(cells))
	for i, row := range cells {
		colors[i] = make([]string, len(row))
		colors[i][col] = statusColors[row[col]]
	}
	return colors
}

// StatsNote says which RabbitMQ counts are unknown or were behind the
// data, and what to do about it; "" when every count is current. hint is
// the command that reads a named queue exactly.
func StatsNote(rows []lag.Row, hint string) string {
	var absent, behind []string
	for _, r := range rows {
		switch r.Stats {
		case lag.StatsAbsent:
			absent = append(absent, r.Queue)
		case lag.StatsBehind:
			behind = append(behind, r.Queue)
		}
	}
	var parts []string
	if len(absent) > 0 {
		parts = append(parts, fmt.Sprintf("the RabbitMQ management API has no figures yet for %s (? in the table); name them (%s) to read their depth over AMQP", quoteList(absent), hint))
	}
	if len(behind) > 0 {
		parts = append(parts, fmt.Sprintf("the RabbitMQ management API's figures for %s were behind: their ready counts and consumers were read over AMQP, unacked counts and rates are as old as its last sample", quoteList(behind)))
	}
	return strings.Join(parts, "; ")
}

// SampledNote says which RabbitMQ counts are the management API's sampled
// figures, which can be behind the queue (JSON says so in "stats"); ""
// when none are. hint is the command that reads a named queue exactly.
func SampledNote(rows []lag.Row, hint string) string {
	var sampled []string
	for _, r := range rows {
		if r.Stats == lag.StatsSampled {
			sampled = append(sampled, r.Queue)
		}
	}
	if len(sampled) == 0 {
		return ""
	}
	return fmt.Sprintf("the counts for %s are the RabbitMQ management API's last sample (taken every few seconds) and can be behind the queue; name them (%s) to read ready and consumers over AMQP", quoteList(sampled), hint)
}

// quoteList quotes up to 5 names and counts the rest.
func quoteList(names []string) string {
	const most = 5
	var quoted []string
	for _, n := range names[:min(len(names), most)] {
		quoted = append(quoted, strconv.Quote(n))
	}
	if len(names) > most {
		quoted = append(quoted, fmt.Sprintf("%d more", len(names)-most))
	}
	return strings.Join(quoted, ", ")
}

// WatchTitleLines are the lines a watch on a terminal prints above the
// table (title and a blank line), plus the line the cursor rests on.
const WatchTitleLines = 3

// Watch draws one refresh of a --watch every interval over a window of
// samples: on a terminal in place, fitted to the window's size as it is
// now, with what did not fit said in the title; elsewhere as Print does.
func Watch(s *output.Streams, format output.Format, interval time.Duration, samples int, r source.Refresh) error {
	if !s.OutTTY || format.Name != "table" {
		return Print(s, format, r.Rows, r.Statuses, r.Report)
	}
	t, fitted := Table(s, format, r.Rows, r.Statuses, WatchTitleLines)
	title := fmt.Sprintf("mqctl lag --watch every %s, window %d; %s", interval, samples, r.Now.Format("15:04:05"))
	if r.Report != nil && len(r.Report.Failures) > 0 {
		title += "; no answer from " + source.FailedNames(r.Report.Failures)
	}
	if n := len(fitted.Dropped); n > 0 {
		title += fmt.Sprintf("; %d columns hidden (-o wide)", n)
	}
	if slices.ContainsFunc(r.Rows, func(r lag.Row) bool { return !r.CountsKnown() }) {
		title += "; ? = no RabbitMQ figures yet"
	}
	var b strings.Builder
	b.WriteString("\033[H\033[2J")
	width, _ := s.TermSize()
	if width > 0 {
		title = output.FitLine(title, width)
	}
	b.WriteString(title + "\n\n")
	if _, err := fmt.Fprint(s.Out, b.String()); err != nil {
		return err
	}
	if err := output.PrintTable(s, t); err != nil {
		return err
	}
	if fitted.RowsLeft > 0 {
		_, err := fmt.Fprintf(s.Out, "… %d more rows (NAMEs narrow the list)\n", fitted.RowsLeft)
		return err
	}
	return nil
}

// Check prints a --check verdict: the Nagios status line first, then
// with verbose the table it judged.
func Check(s *output.Streams, res source.CheckResult, verbose bool) {
	fmt.Fprintln(s.Out, res.Line)
	if verbose {
		h, cells := lag.Table(res.Rows, res.Statuses)
		_ = output.PrintTable(s, output.Table{Header: h, Rows: cells})
	}
}

// WrapList joins items with ", " in lines of at most width columns, each
// starting with indent (for --help text).
func WrapList(items []string, indent string, width int) string {
	var lines []string
	line := indent
	for i, it := range items {
		if i < len(items)-1 {
			it += ","
		}
		if len(line)+len(it)+1 > width && line != indent {
			lines = append(lines, strings.TrimRight(line, " "))
			line = indent
		}
		line += it + " "
	}
	return strings.Join(append(lines, strings.TrimRight(line, " ")), "\n")
}
