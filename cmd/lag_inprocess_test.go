package cmd

import (
	"strings"
	"testing"
	"time"
)

// Flag refusals of lag happen before any connection: no broker needed.
func TestLagInProcessRefusals(t *testing.T) {
	for _, c := range []struct {
		args   []string
		code   int
		stdout string // with --check the refusal is a Nagios UNKNOWN line
		stderr string
	}{
		{[]string{"lag", "--samples", "1"}, 2, "", "--samples 1: want 2 or more"},
		{[]string{"lag", "--interval", "5s"}, 2, "", "--interval applies to --watch and --check --rules"},
		{[]string{"lag", "--warn", "5"}, 2, "", "--warn applies to --check"},
		{[]string{"lag", "--all-contexts", "-c", "a"}, 2, "", "--all-contexts and -c exclude each other"},
		{[]string{"lag", "-c", "a,b", "--url", "kafka://x:9092"}, 2, "", "--url names one broker"},
		{[]string{"lag", "--check", "--watch", "--warn", "1"}, 3, "UNKNOWN --check and --watch exclude each other", ""},
		{[]string{"lag", "--check"}, 3, "UNKNOWN --check needs --warn", ""},
		// A limit is reached at or above it: 0 would hold for every row.
		{[]string{"lag", "--check", "--warn", "0"}, 3, "UNKNOWN --warn 0 would make every row WARN (a limit is reached at or above it): want 1 or more (1: any lag)\n", ""},
		{[]string{"lag", "--check", "--warn", "0", "--crit", "10"}, 3, "UNKNOWN --warn 0 would make every row WARN", ""},
		{[]string{"lag", "--check", "--crit", "0"}, 3, "UNKNOWN --crit 0 would make every row CRIT", ""},
		{[]string{"lag", "--check", "--crit-time", "0s"}, 3, "UNKNOWN --crit-time 0 would make every row CRIT (a limit is reached at or above it): want a duration above 0\n", ""},
		{[]string{"dlq", "ls", "--check", "--warn", "0"}, 3, "UNKNOWN --warn 0 would hold for every destination (a limit is reached at or above it): want 1 or more (1: any message)\n", ""},
		{[]string{"dlq", "stats", "Q", "--check", "--warn", "1", "--crit", "0"}, 3, "UNKNOWN --crit 0 would hold for every destination", ""},
		{[]string{"lag", "--check", "--warn", "1", "-o", "json"}, 3, "UNKNOWN --check prints a Nagios status line", ""},
	} {
		for _, tty := range []bool{false, true} {
			r := runInProcess(t, tty, nil, c.args...)
			if r.code != c.code || !strings.Contains(r.stdout, c.stdout) || !strings.Contains(r.stderr, c.stderr) {
				t.Errorf("%v (tty %v): code %d stdout %q stderr %q; want %d, %q, %q", c.args, tty, r.code, r.stdout, r.stderr, c.code, c.stdout, c.stderr)
			}
			if c.code == 2 && !strings.HasPrefix(r.stderr, "mqctl: ") {
				t.Errorf("%v: stderr %q does not start with \"mqctl: \"", c.args, r.stderr)
			}
		}
	}
}

func TestNewCmdLagOptions(t *testing.T) {
	f := newTestFactory(t)
	var got *LagOptions
	cmd := NewCmdLag(f, func(o *LagOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"orders", "billing", "--watch", "--interval", "3s", "--samples", "4", "--regex"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got == nil || strings.Join(got.Names, ",") != "orders,billing" || !got.mode.Watch || !got.regex ||
		got.mode.Interval != 3*time.Second || got.mode.Samples != 4 || got.Format.Name != "table" {
		t.Fatalf("options: %+v", got)
	}
}
