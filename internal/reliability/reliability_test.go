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

func TestFuzzAndLeakFigures(t *testing.T) {
	dir := t.TempDir()
	fuzz, leak := filepath.Join(dir, "fuzz.jsonl"), filepath.Join(dir, "leak.jsonl")
	for _, f := range []Fuzz{
		{Target: "FuzzA", Package: "internal/a", FuzzTime: "10s", Execs: 5, Passed: true},
		{Target: "FuzzB", Package: "internal/b", FuzzTime: "10s", Execs: 7, Crasher: "internal/b/testdata/fuzz/FuzzB/0a1b"},
		{Target: "FuzzA", Package: "internal/a", FuzzTime: "10s", Execs: 1000, Passed: true}, // a rerun
	} {
		if err := AppendLine(fuzz, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := AppendLine(leak, Leak{Test: "TestSecretsNeverPrinted", Commands: 600, Outputs: 1200, Files: 150, Bytes: 99999,
		Plain: 1, URLEncoded: 3, Base64: 9, Passed: true}); err != nil {
		t.Fatal(err)
	}
	fs, err := ReadFuzz(fuzz)
	if err != nil || len(fs) != 2 || fs[0].Execs != 1000 {
		t.Fatalf("%+v %v", fs, err)
	}
	l, err := ReadLeak(leak)
	if err != nil || l.Commands != 600 {
		t.Fatalf("%+v %v", l, err)
	}

	var md bytes.Buffer
	m := Meta{Date: "2026-12-06", Machine: "2 cores", Go: "go1.x", Commit: "abc", Runs: 1}
	if err := Write(&md, Doc{Meta: m, Scenarios: []Result{{Scenario: "s", Runs: 1, Messages: 10, Passed: true}},
		Measured: Meta{Date: "2026-12-07", Machine: "2 cores", Go: "go1.x", Commit: "def"}, Fuzz: fs, Leak: &l}); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"| FuzzA | internal/a | 10s | 1000 | ok |",
		"| FuzzB | internal/b | 10s | 7 | **FAIL**, failing input `internal/b/testdata/fuzz/FuzzB/0a1b` |",
		"| **all 2 targets** | | 20s | 1007 | **1 failed** |",
		"(which `make reliability` runs) on 2026-12-07 (2 cores, go1.x) at commit def:",
		"| 600 | 1200 | 150 | 99999 | 1 | 3 | 9 | **0** | ok |",
		"\n- **RabbitMQ consumer_timeout, every time**: ",
	} {
		if !strings.Contains(md.String(), line) {
			t.Errorf("RELIABILITY.md lacks %q:\n%s", line, md.String())
		}
	}
	if strings.Contains(md.String(), notMeasuredHeading) {
		t.Errorf("RELIABILITY.md lists something as not measured, with every figure there:\n%s", md.String())
	}
}

// A run of the fuzz targets and the leak test alone keeps the scenario
// part of the RELIABILITY.md it replaces, byte for byte, and drops that
// file's fuzz and leak figures.
func TestKeptScenarios(t *testing.T) {
	m := Meta{Date: "2026-12-06", Machine: "2 cores", Go: "go1.x", Commit: "abc", Runs: 20, Seconds: 2000}
	rs := []Result{{Scenario: "kill -9", Runs: 20, Messages: 2000, Duplicated: 4, Passed: true}}
	var scenariosOnly, first bytes.Buffer
	if err := Render(&scenariosOnly, m, rs); err != nil {
		t.Fatal(err)
	}
	old := []Fuzz{{Target: "FuzzOld", Package: "internal/a", FuzzTime: "10s", Execs: 1, Passed: true}}
	if err := Write(&first, Doc{Meta: m, Scenarios: rs, Measured: m, Fuzz: old, Leak: &Leak{Test: "T"}}); err != nil {
		t.Fatal(err)
	}
	for _, md := range []string{scenariosOnly.String(), first.String()} {
		kept, err := KeptScenarios(md)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(scenariosOnly.String(), kept) || !strings.Contains(kept, "| kill -9 | 20 | 2000 | 0 | 4 | ok |") ||
			strings.Contains(kept, notMeasuredHeading) || strings.Contains(kept, fuzzHeading) {
			t.Fatalf("kept:\n%s", kept)
		}
		var again bytes.Buffer
		fs := []Fuzz{{Target: "FuzzNew", Package: "internal/a", FuzzTime: "10s", Execs: 2, Passed: true}}
		if err := Write(&again, Doc{Kept: kept, Measured: m, Fuzz: fs}); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(again.String(), kept+fuzzHeading+"\n") || strings.Contains(again.String(), "FuzzOld") ||
			strings.Count(again.String(), "# Reliability") != 1 {
			t.Errorf("rewritten:\n%s", again.String())
		}
	}
	if _, err := KeptScenarios("# Benchmarks\n"); err == nil {
		t.Error("a file without a scenario table was kept")
	}
}
