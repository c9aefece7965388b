package view

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/lag/source"
	"github.com/mqctl/mqctl/internal/output"
)

func rows(n int) []lag.Row {
	var rs []lag.Row
	for i := range n {
		rs = append(rs, lag.Row{Kind: lag.KindPartition, Group: "g", Topic: "orders", Partition: int32(i), Committed: 5, End: 10, Lag: 5})
	}
	return rs
}

// A watch on a terminal redraws in place, fits the window's height and
// says how many rows did not fit; in a pipe it prints what Print prints,
// with no escape sequence.
func TestWatch(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ref := source.Refresh{Now: now, Rows: rows(30),
		Report: &source.Report{Failures: []lag.Failure{lag.NewFailure("prod", fmt.Errorf("refused"))}}}
	format, _ := output.ParseFormat("table")

	tty, out, _ := output.Test()
	tty.OutTTY = true
	tty.Size = func() (int, int, error) { return 100, 12, nil }
	if err := Watch(tty, format, 2*time.Second, 5, ref); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"\033[H\033[2J", "mqctl lag --watch every 2s, window 5; 03:04:05; no answer from prod", "more rows (NAMEs narrow the list)"} {
		if !strings.Contains(got, want) {
			t.Errorf("tty watch lacks %q:\n%s", want, got)
		}
	}
	if lines := strings.Count(got, "\n"); lines > 12 {
		t.Errorf("tty watch is %d lines on a 12-line terminal:\n%s", lines, got)
	}

	pipe, pout, _ := output.Test()
	if err := Watch(pipe, format, 2*time.Second, 5, ref); err != nil {
		t.Fatal(err)
	}
	want, wout, _ := output.Test()
	if err := Print(want, format, ref.Rows, nil, ref.Report); err != nil {
		t.Fatal(err)
	}
	if pout.String() != wout.String() || strings.Contains(pout.String(), "\033") {
		t.Errorf("pipe watch:\n%q\nwant Print's:\n%q", pout.String(), wout.String())
	}
	if strings.Count(pout.String(), "\n") != 31 {
		t.Errorf("pipe watch cut rows: %q", pout.String())
	}
}

// Every format of Print writes the failed contexts next to the rows.
func TestPrintFormats(t *testing.T) {
	rep := &source.Report{Failures: []lag.Failure{lag.NewFailure("prod", fmt.Errorf("refused"))}, Up: map[string]bool{"prod": false, "dev": true}}
	for name, want := range map[string]string{
		"json":       `"context":"prod"`,
		"jsonl":      `"kind":"error"`,
		"yaml":       "context: prod",
		"prometheus": `mqctl_context_up{context="prod"} 0`,
		"table":      "orders",
	} {
		format, err := output.ParseFormat(name)
		if err != nil {
			t.Fatal(err)
		}
		s, out, _ := output.Test()
		if err := Print(s, format, rows(2), nil, rep); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !strings.Contains(strings.ReplaceAll(out.String(), " ", ""), strings.ReplaceAll(want, " ", "")) {
			t.Errorf("-o %s lacks %q:\n%s", name, want, out.String())
		}
	}
}

func TestStatsNote(t *testing.T) {
	var rs []lag.Row
	for i := range 7 {
		rs = append(rs, lag.Row{Kind: lag.KindQueue, Queue: fmt.Sprintf("q%d", i), Stats: lag.StatsAbsent})
	}
	rs = append(rs, lag.Row{Kind: lag.KindQueue, Queue: "late", Stats: lag.StatsBehind}, lag.Row{Kind: lag.KindQueue, Queue: "ok", Stats: lag.StatsExact})
	got := StatsNote(rs, "mqctl lag QUEUE")
	for _, want := range []string{`"q0", "q1", "q2", "q3", "q4", 2 more`, "(mqctl lag QUEUE)", `figures for "late" were behind`} {
		if !strings.Contains(got, want) {
			t.Errorf("note lacks %q: %s", want, got)
		}
	}
	if StatsNote(rs[8:], "x") != "" {
		t.Errorf("a note for current counts")
	}
}

func TestWrapList(t *testing.T) {
	got := WrapList([]string{"alpha", "beta", "gamma", "delta"}, "  ", 16)
	if want := "  alpha, beta,\n  gamma, delta"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// -o prometheus quotes queue names in label values, which Prometheus
// escapes only for \, " and newline: on a terminal the text is shown
// escaped, to a pipe (a textfile, a scrape) it is the bytes unchanged.
func TestPrometheusOnTerminalAndPipe(t *testing.T) {
	hostile := "q\x1b]0;pwned\x07\x1b[2J\u202e\u009b"
	rs := []lag.Row{{Broker: lag.BrokerRabbitMQ, Kind: lag.KindQueue, Queue: hostile, Ready: 3, Lag: 3, Partition: lag.Unknown, Committed: lag.Unknown, End: lag.Unknown, Stats: lag.StatsSampled}}
	rep := &source.Report{Up: map[string]bool{hostile: true}}
	format, _ := output.ParseFormat("prometheus")
	var exact strings.Builder
	if err := lag.Prometheus(&exact, rs); err != nil {
		t.Fatal(err)
	}
	if err := lag.ContextUp(&exact, rep.Up); err != nil {
		t.Fatal(err)
	}

	pipe, pout, _ := output.Test()
	if err := Print(pipe, format, rs, nil, rep); err != nil {
		t.Fatal(err)
	}
	if pout.String() != exact.String() || !strings.Contains(pout.String(), hostile) {
		t.Errorf("pipe: the bytes changed:\n%q\nwant\n%q", pout.String(), exact.String())
	}

	tty, out, _ := output.Test()
	tty.OutTTY = true
	if err := Print(tty, format, rs, nil, rep); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if strings.ContainsAny(got, "\x1b\x07\u202e\u009b") || !strings.Contains(got, `q\x1b]0;pwned\x07\x1b[2J\u202e\u009b`) {
		t.Errorf("terminal: not escaped:\n%q", got)
	}
	if strings.Count(got, "\n") != strings.Count(exact.String(), "\n") {
		t.Errorf("terminal: lines differ from the pipe's:\n%s", got)
	}
}
