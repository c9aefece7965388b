package cmd

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestVersionOutput(t *testing.T) {
	for _, tty := range []bool{true, false} {
		r := runInProcess(t, tty, nil, "version")
		if r.code != 0 || !strings.HasPrefix(r.stdout, "mqctl dev (commit unknown, go") || r.stderr != "" {
			t.Errorf("tty=%v: %+v", tty, r)
		}
	}
	r := runInProcess(t, false, nil, "version", "-o", "json")
	var v versionInfo
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.Version != "dev" || v.Go == "" {
		t.Errorf("json: %v %+v", err, r)
	}
	if r := runInProcess(t, false, nil, "version", "extra"); r.code != 2 || !strings.HasPrefix(r.stderr, "mqctl: ") {
		t.Errorf("an argument: %+v", r)
	}
}

func TestNewCmdVersionOptions(t *testing.T) {
	f := newTestFactory(t)
	f.Global.Output = "yaml"
	var got *VersionOptions
	cmd := NewCmdVersion(f, func(o *VersionOptions) error { got = o; return nil })
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got == nil || got.Format.Name != "yaml" || got.IO != f.IO {
		t.Errorf("options %+v", got)
	}
}
