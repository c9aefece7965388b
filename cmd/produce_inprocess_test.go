package cmd

import (
	"strings"
	"testing"
)

// Refusals that need no broker: one line on stderr naming what is wrong,
// exit 2, nothing on stdout; the same on a terminal and on a pipe.
func TestProduceRefusalsInProcess(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"produce"}, "produce: DEST is required"},
		{[]string{"produce", "t", "v", "--count", "0"}, "--count 0: want 1 or more"},
		{[]string{"produce", "t", "--format", "xml"}, `--format "xml": want lines, jsonl or raw`},
		{[]string{"produce", "t", "--delimiter", "ab"}, `--delimiter "ab": want one byte`},
		{[]string{"produce", "t", "v", "--delimiter", ","}, "--delimiter splits --format lines"},
		{[]string{"produce", "t", "--format", "raw", "--skip-invalid"}, "--skip-invalid skips bad --format jsonl lines"},
		{[]string{"produce", "t", "v", "--file", "x"}, "values as arguments and --file exclude each other"},
		{[]string{"produce", "t", "v", "--format", "jsonl"}, "values given as arguments are sent as they are"},
		{[]string{"produce", "t", "v", "--rate", "-1"}, "--rate -1: want 0 (unlimited) or more"},
		{[]string{"produce", "t", "v", "--in-flight", "0"}, "--in-flight 0: want 1 or more"},
		{[]string{"produce", "t", "v", "--expiration", "1m"}, `--expiration "1m": want a whole number of milliseconds`},
		{[]string{"produce", "--queue", "q", "--routing-key", "k", "v"}, "--queue and --routing-key exclude each other"},
		{[]string{"produce", "t", "v", "--partition", "-2"}, "--partition -2: want 0 or more"},
	}
	for _, tty := range []bool{false, true} {
		for _, c := range cases {
			r := runInProcess(t, tty, nil, c.args...)
			lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			if r.code != 2 || len(lines) != 1 || !strings.HasPrefix(lines[0], "mqctl: ") || !strings.Contains(lines[0], c.want) || r.stdout != "" {
				t.Errorf("tty=%v %q: exit %d, stdout %q, stderr %q; want exit 2 and one line with %q", tty, c.args, r.code, r.stdout, r.stderr, c.want)
			}
		}
	}
}
