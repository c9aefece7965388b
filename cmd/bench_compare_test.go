package cmd

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mqctl/mqctl/internal/bench"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// TestBenchCSVAndCompare: --csv writes a timeline whose rows add up to
// the run, and bench compare lines up two kept runs (-o json) with their
// ratios, as a table and as JSON.
func TestBenchCSVAndCompare(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	dir := t.TempDir()
	csvFile := filepath.Join(dir, "a.csv")
	a, code, stderr := benchOn(t, srv.URL, 0, "--count", "300", "--size", "64", "--csv", csvFile)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	f, err := os.Open(csvFile)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(recs) < 2 || recs[0][3] != "confirmed" {
		t.Fatalf("csv %q: %v", recs, err)
	}
	var confirmed int64
	for _, r := range recs[1:] {
		n, _ := strconv.ParseInt(r[3], 10, 64)
		confirmed += n
	}
	if confirmed != 300 || len(a.Timeline) != len(recs)-1 {
		t.Errorf("csv rows confirm %d of 300; %d rows, %d in the JSON timeline", confirmed, len(recs)-1, len(a.Timeline))
	}
	b, code, stderr := benchOn(t, srv.URL, 0, "--count", "600", "--size", "64")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	files := []string{filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")}
	for i, s := range []bench.Summary{a, b} {
		j, _ := json.Marshal(s)
		if err := os.WriteFile(files[i], j, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := runInProcess(t, false, nil, append([]string{"bench", "compare"}, files...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "/a") {
		t.Fatalf("%+v", r)
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "sent" && (f[1] != "300" || f[2] != "600" || f[3] != "2.00x") {
			t.Errorf("sent row %q", line)
		}
	}
	r = runInProcess(t, false, nil, append([]string{"bench", "compare", "-o", "json"}, files...)...)
	var c bench.Comparison
	if err := json.Unmarshal([]byte(r.stdout), &c); err != nil || r.code != 0 || len(c.Runs) != 2 || c.Runs[1] != "b" {
		t.Fatalf("%+v: %v", r, err)
	}
}

// TestBenchCompareRefuses: a missing file, or one that is not a kept run,
// is one line and exit 2.
func TestBenchCompareRefuses(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.json")
	if err := os.WriteFile(junk, []byte(`{"v":7}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{junk, junk}, {filepath.Join(dir, "none.json"), junk}, {junk}} {
		r := runInProcess(t, false, nil, append([]string{"bench", "compare"}, args...)...)
		if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "mqctl: ") {
			t.Errorf("%v: %+v", args, r)
		}
	}
}
