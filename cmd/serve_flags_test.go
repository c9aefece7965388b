package cmd

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestServeFlags(t *testing.T) {
	var got *ServeOptions
	f := newTestFactory(t)
	cmd := NewCmdServe(f, func(o *ServeOptions) error { got = o; return nil })
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Listen != "127.0.0.1:9308" || got.Interval != 15*time.Second || got.Samples != 5 || got.AllContexts || got.TimeLag {
		t.Fatalf("defaults %+v: want loopback 127.0.0.1:9308, every 15s, 5 samples", got)
	}
	cmd = NewCmdServe(f, func(o *ServeOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--listen", ":0", "--interval", "500ms", "--samples", "3", "--all-contexts", "--time-lag"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Listen != ":0" || got.Interval != 500*time.Millisecond || got.Samples != 3 || !got.AllContexts || !got.TimeLag {
		t.Fatalf("options %+v", got)
	}
}

// Flags that cannot work are usage errors (2) on one line, before any
// connection; a --listen address that is taken is one too.
func TestServeRefusesBadFlags(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, tc := range []struct {
		args    []string
		mention string
	}{
		{[]string{"--listen", "9308"}, "--listen"},
		{[]string{"--listen", "127.0.0.1:"}, "--listen"},
		{[]string{"--listen", "127.0.0.1:99999"}, "invalid port"},
		{[]string{"--listen", taken.Addr().String()}, "address already in use"},
		{[]string{"--interval", "0s"}, "--interval"},
		{[]string{"--samples", "1"}, "--samples"},
		{[]string{"--all-contexts", "-c", "a"}, "exclude"},
		{[]string{"-c", "a,b", "--url", "kafka://127.0.0.1:1"}, "--url"},
		{[]string{"extra"}, "unknown command"},
	} {
		r := runInProcess(t, false, map[string]string{"MQCTL_URL": "kafka://127.0.0.1:1"}, append([]string{"serve"}, tc.args...)...)
		if r.code != 2 || !strings.HasPrefix(r.stderr, "mqctl: ") || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, tc.mention) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line naming %q", tc.args, r.code, r.stderr, tc.mention)
		}
	}
}

// A context listed twice would export every series twice, which
// Prometheus rejects: a usage error before anything starts.
func TestServeRefusesContextListedTwice(t *testing.T) {
	env := map[string]string{"MQCTL_CONFIG": filepath.Join(t.TempDir(), "config.yaml")}
	if r := runInProcess(t, false, env, "context", "add", "a", "--url", "kafka://127.0.0.1:1"); r.code != 0 {
		t.Fatalf("context add: %+v", r)
	}
	r := runInProcess(t, false, env, "serve", "-c", "a,a", "--listen", "127.0.0.1:0")
	if r.code != 2 || !strings.Contains(r.stderr, "context a is listed twice") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}
