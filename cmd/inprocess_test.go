package cmd

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/mqctl/mqctl/internal/output"
)

// result is what one mqctl command line did, in process or as a
// subprocess.
type inProcessResult struct {
	stdout, stderr string
	code           int
}

// runInProcess runs one command line through Run on test streams, a
// terminal when tty is set, with env as the whole environment (an empty
// contexts file unless env names MQCTL_CONFIG). It is for flag parsing
// and output shaping; behaviour against brokers is tested on the binary.
func runInProcess(t *testing.T, tty bool, env map[string]string, args ...string) inProcessResult {
	t.Helper()
	return runInProcessOn(t, func(io *output.Streams) {
		io.OutTTY, io.ErrTTY = tty, tty
		if tty {
			io.Size = func() (int, int, error) { return 80, 24, nil }
		}
	}, env, args...)
}

// runInProcessOn is runInProcess on test streams that set adjusts (a
// terminal on stdin too, say).
func runInProcessOn(t *testing.T, set func(*output.Streams), env map[string]string, args ...string) inProcessResult {
	t.Helper()
	io, out, errOut := output.Test()
	set(io)
	if env == nil {
		env = map[string]string{}
	}
	if _, ok := env["MQCTL_CONFIG"]; !ok {
		env["MQCTL_CONFIG"] = filepath.Join(t.TempDir(), "config.yaml")
	}
	f := NewFactory(io)
	f.Getenv = func(k string) string { return env[k] }
	code := Run(context.Background(), f, args)
	return inProcessResult{stdout: out.String(), stderr: errOut.String(), code: code}
}

// newTestFactory is a factory on test streams for calling a command's
// constructor with a runF that captures its options.
func newTestFactory(t *testing.T) *Factory {
	io, _, _ := output.Test()
	f := NewFactory(io)
	dir := t.TempDir()
	f.Getenv = func(k string) string {
		if k == "MQCTL_CONFIG" {
			return filepath.Join(dir, "config.yaml")
		}
		return ""
	}
	return f
}
