package reliability

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a testing.TB that keeps failures and cleanups to itself, so
// a Tally can be seen failing without failing this test.
type recorder struct {
	testing.TB
	errors   []string
	cleanups []func()
}

func (r *recorder) Helper()             {}
func (r *recorder) Logf(string, ...any) {}
func (r *recorder) Failed() bool        { return len(r.errors) > 0 }
func (r *recorder) Cleanup(f func())    { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(f string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(f, args...))
}

func (r *recorder) end() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func TestTallyFailsOnLossAndWritesALine(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.jsonl")
	t.Setenv(OutEnv, out)

	clean := &recorder{TB: t}
	s := Start(clean, "kill -9 produce, Kafka")
	s.Run(100, 0, 3)
	s.Count("killed mid-run")
	s.Run(100, 0, 0)
	s.Count("killed mid-run")
	s.Note("rerun on the same input")
	clean.end()
	if clean.Failed() {
		t.Fatalf("no loss, yet failed: %v", clean.errors)
	}

	lossy := &recorder{TB: t}
	s = Start(lossy, "NATS restart")
	s.Run(50, 2, 0)
	lossy.end()
	if len(lossy.errors) != 1 || !strings.Contains(lossy.errors[0], "2 of 50 messages lost") {
		t.Fatalf("a loss must fail the test: %v", lossy.errors)
	}

	rs, err := Read(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []Result{
		{Scenario: "kill -9 produce, Kafka", Runs: 2, Messages: 200, Duplicated: 3, Passed: true,
			Notes: "killed mid-run: 2 of 2 runs; rerun on the same input"},
		{Scenario: "NATS restart", Runs: 1, Messages: 50, Lost: 2},
	}
	if fmt.Sprint(rs) != fmt.Sprint(want) {
		t.Fatalf("read back\n%+v\nwant\n%+v", rs, want)
	}

	var md bytes.Buffer
	if err := Render(&md, Meta{Date: "2026-12-06", Machine: "2 cores", Go: "go1.x", Commit: "abc", Runs: 2}, rs); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"| kill -9 produce, Kafka | 2 | 200 | 0 | 3 | ok | killed mid-run: 2 of 2 runs; rerun on the same input |",
		"| NATS restart | 1 | 50 | 2 | 0 | **LOST** |  |",
		"| **all 2 scenarios** | 3 | 250 | **2** | 3 | **LOST** | |",
		"at commit abc: each fault scenario ran 2 times asked (1, 2 runs recorded)",
	} {
		if !strings.Contains(md.String(), line) {
			t.Errorf("RELIABILITY.md lacks %q:\n%s", line, md.String())
		}
	}
}

func TestReadKeepsTheLastLineOfAScenario(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.jsonl")
	for _, r := range []Result{{Scenario: "a", Runs: 1}, {Scenario: "b", Runs: 1}, {Scenario: "a", Runs: 5}} {
		if err := Append(out, r); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := Read(out)
	if err != nil || len(rs) != 2 || rs[0].Scenario != "a" || rs[0].Runs != 5 {
		t.Fatalf("%+v %v", rs, err)
	}
}

func TestRunsFromTheEnvironment(t *testing.T) {
	t.Setenv(RunsEnv, "")
	if n := Runs(t); n != DefaultRuns {
		t.Errorf("unset: %d runs, want %d", n, DefaultRuns)
	}
	t.Setenv(RunsEnv, "20")
	if n := Runs(t); n != 20 {
		t.Errorf("20: %d runs", n)
	}
}
