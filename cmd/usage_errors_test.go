package cmd

import (
	"strings"
	"testing"
)

// A missing argument or a missing required flag is a usage error (exit 2),
// and an argument-count error says which arguments the command takes.
func TestMissingArgumentsAndRequiredFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		mention string
	}{
		{[]string{"dlq", "peek"}, "dlq peek: accepts 1 arg(s), received 0; usage: mqctl dlq peek SOURCE"},
		{[]string{"consume"}, "usage: mqctl consume SOURCE..."},
		{[]string{"offsets", "reset"}, "usage: mqctl offsets reset GROUP"},
		{[]string{"bench", "compare", "a.json"}, "usage: mqctl bench compare RUN.json"},
		{[]string{"dlq", "move", "orders.DLT", "--url", "kafka://127.0.0.1:1"}, `required flag(s) "to" not set`},
	} {
		r := runInProcess(t, false, nil, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.mention) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line with %q", tc.args, r.code, r.stderr, tc.mention)
		}
	}
}
