package cmd

import (
	"strings"
	"testing"
	"time"
)

func TestTopFlags(t *testing.T) {
	var got *TopOptions
	f := newTestFactory(t)
	cmd := NewCmdTop(f, func(o *TopOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--interval", "500ms", "--read-only", "--all-contexts"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Interval != 500*time.Millisecond || !got.ReadOnly || !got.AllContexts || got.Targets == nil {
		t.Fatalf("options %+v", got)
	}
}

// top on a pipe or with a nonsense interval: a usage error (2), one line.
func TestTopRefusesPipeAndBadInterval(t *testing.T) {
	for _, args := range [][]string{{"top", "--url", "kafka://127.0.0.1:1"}, {"top", "--interval", "0s"}} {
		r := runInProcess(t, false, nil, args...)
		if r.code != 2 || !strings.HasPrefix(r.stderr, "mqctl: ") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}
