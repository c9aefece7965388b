// Package reliability counts what the fault scenarios lose and duplicate,
// fails a scenario that loses a message, and renders the figures as
// RELIABILITY.md. The scenarios themselves are tests (cmd's
// reliability_e2e_test.go); `make reliability` runs them with many runs.
package reliability

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const (
	// RunsEnv sets how many times each scenario runs; DefaultRuns when
	// unset (the bounded subset `make test` runs).
	RunsEnv = "MQCTL_RELIABILITY_RUNS"
	// OutEnv names a file each scenario appends its Result to, one JSON
	// line, when set.
	OutEnv = "MQCTL_RELIABILITY_OUT"
	// DefaultRuns keeps `make test` short: one run of every scenario
	// takes about 90 s (2 cores, -race).
	DefaultRuns = 1
	// bounded divides a scenario's message count in the bounded subset:
	// most of a run's time there is the race-instrumented test reading
	// back what it must find, not mqctl.
	bounded = 4
)

// full reports whether the scenarios run as `make reliability` runs them
// ($MQCTL_RELIABILITY_RUNS set), not as the bounded subset of `make test`.
func full() bool { return os.Getenv(RunsEnv) != "" }

// Messages is how many messages a scenario written for n uses per run: n
// under `make reliability`, a quarter of it in `make test`'s bounded
// subset (at least 1000). Only for scenarios whose faults come by request
// count: a fault timed from the start must still land mid-run.
func Messages(n int) int {
	if full() || n <= 1000 {
		return n
	}
	return max(n/bounded, 1000)
}

// FullOnly skips a scenario in `make test`'s bounded subset, for those
// whose time is the broker's (a RabbitMQ node of their own restarted)
// and whose mqctl behaviour a faster test covers too; `make reliability`
// runs them. The reason says which.
func FullOnly(t testing.TB, reason string) {
	t.Helper()
	if !full() {
		t.Skipf("runs in make reliability only (%s=N): %s", RunsEnv, reason)
	}
}

// Result is one scenario's figures over all its runs.
type Result struct {
	Scenario   string `json:"scenario"`
	Runs       int    `json:"runs"`
	Messages   int    `json:"messages"`
	Lost       int    `json:"lost"`
	Duplicated int    `json:"duplicated"`
	// Passed is false when the scenario's test failed, for a loss or for
	// anything else it checks.
	Passed bool   `json:"passed"`
	Notes  string `json:"notes,omitempty"`
}

// Runs is how many runs each scenario does: $MQCTL_RELIABILITY_RUNS or
// DefaultRuns.
func Runs(t testing.TB) int {
	t.Helper()
	v := os.Getenv(RunsEnv)
	if v == "" {
		return DefaultRuns
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a whole number of runs, 1 or more", RunsEnv, v)
	}
	return n
}

// Tally adds up one scenario's runs. Start it at the top of the test; it
// writes the Result when the test ends.
type Tally struct {
	t     testing.TB
	mu    sync.Mutex
	res   Result
	notes []string
	// counts are notes kept as counters ("killed mid-run": 17).
	counts map[string]int
	order  []string
}

// Start begins scenario name for t. When t ends, the Result goes to
// $MQCTL_RELIABILITY_OUT (when set) and to t's log.
func Start(t testing.TB, name string) *Tally {
	t.Helper()
	s := &Tally{t: t, res: Result{Scenario: name}, counts: map[string]int{}}
	t.Cleanup(s.finish)
	return s
}

// Run adds one run: messages that had to survive, how many of them are
// nowhere to be found, and how many extra copies were seen. A loss fails
// the test.
func (s *Tally) Run(messages, lost, duplicated int) {
	s.t.Helper()
	s.mu.Lock()
	s.res.Runs++
	s.res.Messages += messages
	s.res.Lost += lost
	s.res.Duplicated += duplicated
	run := s.res.Runs
	s.mu.Unlock()
	s.t.Logf("run %d: %d messages, %d lost, %d duplicated", run, messages, lost, duplicated)
	if lost > 0 {
		s.t.Errorf("run %d: %d of %d messages lost", run, lost, messages)
	}
}

// Count adds one to the counter named what; counters are reported as
// "what: n of runs" in the notes.
func (s *Tally) Count(what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.counts[what]; !ok {
		s.order = append(s.order, what)
	}
	s.counts[what]++
}

// Note adds a fixed remark to the notes, once.
func (s *Tally) Note(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := fmt.Sprintf(format, args...)
	for _, have := range s.notes {
		if have == n {
			return
		}
	}
	s.notes = append(s.notes, n)
}

// Result is the figures so far.
func (s *Tally) Result() Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.res
	var parts []string
	for _, what := range s.order {
		parts = append(parts, fmt.Sprintf("%s: %d of %d runs", what, s.counts[what], r.Runs))
	}
	parts = append(parts, s.notes...)
	r.Notes = strings.Join(parts, "; ")
	r.Passed = !s.t.Failed()
	return r
}

func (s *Tally) finish() {
	r := s.Result()
	s.t.Logf("%s: runs %d, messages %d, lost %d, duplicated %d, passed %v; %s",
		r.Scenario, r.Runs, r.Messages, r.Lost, r.Duplicated, r.Passed, r.Notes)
	path := os.Getenv(OutEnv)
	if path == "" {
		return
	}
	if err := Append(path, r); err != nil {
		s.t.Errorf("reliability: %v", err)
	}
}

// Append writes r to the file at path as one JSON line.
func Append(path string, r Result) error {
	return AppendLine(path, r)
}

// Read parses the JSON lines at path. A scenario written more than once
// (a rerun appended) keeps its last line; the order is the first
// appearance.
func Read(path string) ([]Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Result
	index := map[string]int{}
	for i, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var r Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		if j, ok := index[r.Scenario]; ok {
			out[j] = r
			continue
		}
		index[r.Scenario] = len(out)
		out = append(out, r)
	}
	return out, nil
}

// Totals sums results; Passed when every one passed.
func Totals(rs []Result) Result {
	t := Result{Scenario: "total", Passed: true}
	for _, r := range rs {
		t.Runs += r.Runs
		t.Messages += r.Messages
		t.Lost += r.Lost
		t.Duplicated += r.Duplicated
		t.Passed = t.Passed && r.Passed
	}
	return t
}

// sortedRuns lists the distinct run counts, for the header.
func sortedRuns(rs []Result) []int {
	seen := map[int]bool{}
	var out []int
	for _, r := range rs {
		if !seen[r.Runs] {
			seen[r.Runs] = true
			out = append(out, r.Runs)
		}
	}
	sort.Ints(out)
	return out
}
