package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mqctl/mqctl/internal/mqerr"
)

// In-process checks of the commands the other in-process tests leave out:
// flag parsing into the options, and what a terminal and a pipe get.

func TestContextLsInProcessTTYAndPipe(t *testing.T) {
	env := map[string]string{"MQCTL_CONFIG": filepath.Join(t.TempDir(), "config.yaml")}
	for _, args := range [][]string{
		{"context", "add", "rab", "--url", "amqp://ops:s3cret@h:5672/"},
		{"context", "add", "kaf", "--url", "kafka://h:9092"},
		{"context", "use", "rab"},
	} {
		if r := runInProcess(t, false, env, args...); r.code != 0 {
			t.Fatalf("%q: %+v", args, r)
		}
	}
	tty := runInProcess(t, true, env, "context", "ls")
	pipe := runInProcess(t, false, env, "context", "ls")
	for name, r := range map[string]inProcessResult{"tty": tty, "pipe": pipe} {
		if r.code != 0 || r.stderr != "" || strings.Contains(r.stdout, "s3cret") || strings.Count(r.stdout, "\n") != 3 {
			t.Errorf("%s: exit %d, stderr %q, stdout %q: want 3 lines without the password", name, r.code, r.stderr, r.stdout)
		}
	}
	if !strings.HasPrefix(tty.stdout, "CURRENT  NAME") || strings.Contains(tty.stdout, "\t") {
		t.Errorf("tty: want an aligned table, got %q", tty.stdout)
	}
	if !strings.HasPrefix(pipe.stdout, "CURRENT\tNAME\tURL\tREAD-ONLY\n") || !strings.Contains(pipe.stdout, "*\trab\t") {
		t.Errorf("pipe: want tab-separated rows with rab current, got %q", pipe.stdout)
	}
}

func TestDoctorInProcessTTYAndPipe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "kafka://" + l.Addr().String()
	l.Close() // nothing listens there now
	args := []string{"doctor", "--url", url, "--timeout", "1s"}
	tty := runInProcess(t, true, nil, args...)
	pipe := runInProcess(t, false, nil, args...)
	for name, r := range map[string]inProcessResult{"tty": tty, "pipe": pipe} {
		if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "mqctl: doctor: a check failed") {
			t.Errorf("%s: exit %d, stderr %q: want 1 and one line", name, r.code, r.stderr)
		}
	}
	if !strings.HasPrefix(tty.stdout, "CONTEXT  BROKER  CHECK") || !strings.Contains(tty.stdout, "  FAIL  ") || strings.Contains(tty.stdout, "\t") {
		t.Errorf("tty: want an aligned table with a FAIL row, got %q", tty.stdout)
	}
	if !strings.HasPrefix(pipe.stdout, "CONTEXT\tBROKER\tCHECK\tSTATUS\tDETAIL\n") || !strings.Contains(pipe.stdout, "\tkafka\tconnect\tFAIL\t") {
		t.Errorf("pipe: want tab-separated rows with kafka connect FAIL, got %q", pipe.stdout)
	}
	r := runInProcess(t, false, nil, append(args, "-o", "json")...)
	var checks []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &checks); err != nil || len(checks) == 0 || r.code != 1 {
		t.Errorf("-o json: exit %d, %v: %q", r.code, err, r.stdout)
	}
}

func TestCompletionInProcess(t *testing.T) {
	tty := runInProcess(t, true, nil, "completion", "bash")
	pipe := runInProcess(t, false, nil, "completion", "bash")
	if tty.code != 0 || !strings.Contains(tty.stdout, "__start_mqctl") || tty.stdout != pipe.stdout || pipe.code != 0 {
		t.Errorf("completion bash: exit %d/%d, %d/%d bytes: want the same script on a terminal and in a pipe",
			tty.code, pipe.code, len(tty.stdout), len(pipe.stdout))
	}
	if r := runInProcess(t, false, nil, "completion", "tcsh"); r.code != 2 || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("completion tcsh: %+v, want exit 2 and one line", r)
	}
}

func TestNewCmdDLQMoveOptions(t *testing.T) {
	var got *DLQMoveOptions
	cmd := NewCmdDLQMove(newTestFactory(t), func(o *DLQMoveOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"orders.DLT", "--to", "orders.archive", "--to-context", "rabbit", "--limit", "5",
		"--rate", "20", "--dry-run", "--reason", "timeout", "--in-flight", "7"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got == nil || got.Verb != "move" || got.Source != "orders.DLT" || got.to != "orders.archive" ||
		got.toContext != "rabbit" || got.limit != 5 || got.rate != 20 || !got.dryRun || got.inFlight != 7 || got.Filter == nil {
		t.Fatalf("options %+v", got)
	}
	for _, args := range [][]string{
		{"q", "--to", "x", "--limit", "-1"},
		{"q", "--to", "x", "--in-flight", "0"},
		{"q", "--to", "x", "--reason", "("},
	} {
		cmd := NewCmdDLQMove(newTestFactory(t), func(*DLQMoveOptions) error { t.Errorf("%q reached the run", args); return nil })
		cmd.SetArgs(args)
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		if err := cmd.Execute(); !mqerr.Is(err, mqerr.Usage) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}

func TestSandboxRunsItsProgram(t *testing.T) {
	dir := t.TempDir()
	next := filepath.Join(dir, sandboxBinary)
	if err := os.WriteFile(next, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var path string
	var argv []string
	opts := &SandboxOptions{
		Args:     []string{"-c", "x", "sandbox", "--demo", "sandbox"},
		Self:     func() (string, error) { return filepath.Join(dir, "mqctl"), nil },
		LookPath: func(string) (string, error) { return "/on/path/" + sandboxBinary, nil },
		Exec:     func(p string, a, _ []string) error { path, argv = p, a; return nil },
	}
	if err := sandboxRun(opts); err != nil || path != next ||
		!slices.Equal(argv, []string{next, "-c", "x", "--demo", "sandbox"}) {
		t.Errorf("next to mqctl: %v, exec %s %q", err, path, argv)
	}
	opts.Self = func() (string, error) { return "", errors.New("no self") }
	if err := sandboxRun(opts); err != nil || path != "/on/path/"+sandboxBinary {
		t.Errorf("on PATH: %v, exec %s", err, path)
	}
	opts.LookPath = func(string) (string, error) { return "", fmt.Errorf("look: %w", exec.ErrNotFound) }
	if err := sandboxRun(opts); !mqerr.Is(err, mqerr.Usage) || !strings.Contains(err.Error(), "make build") {
		t.Errorf("missing: %v, want a usage error naming make build", err)
	}
}
