package cmd

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mqctl/mqctl/internal/output"
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

// A flag given an empty value (an unset shell variable) is refused before
// anything connects, where empty would read as "not given": the current
// context instead of -c "$CTX", a purge without --export, acks without
// --exec.
func TestEmptyFlagValuesRefused(t *testing.T) {
	url := "kafka://127.0.0.1:1"
	for _, args := range [][]string{
		{"ls", "-c", ""},
		{"ls", "--context", " "},
		{"ls", "--url", ""},
		{"dlq", "purge", "orders.dlq", "--url", url, "--export", "", "--yes"},
		{"dlq", "replay", "orders.dlq", "--url", url, "--to", "", "--yes"},
		{"dlq", "replay", "orders.dlq", "--url", url, "--max-replays", "1", "--park", "", "--yes"},
		{"dlq", "move", "orders.dlq", "--url", url, "--to", "", "--yes"},
		{"dlq", "move", "orders.dlq", "--url", url, "--to", "x", "--to-context", "", "--yes"},
		{"consume", "orders", "--url", url, "--exec", ""},
		{"consume", "orders", "--url", url, "--exec", "true", "--serve", ""},
		{"produce", "orders", "x", "--url", url, "--failed-out", ""},
		{"produce", "orders", "--url", url, "--file", ""},
		{"produce", "--queue", "", "x", "--url", url},
		{"bench", "--url", url, "--csv", ""},
	} {
		r := runInProcess(t, false, nil, args...)
		if r.code != 2 || !strings.Contains(r.stderr, "was given an empty value") {
			t.Errorf("%q: exit %d, stderr %q; want 2 and the empty flag named", args, r.code, r.stderr)
		}
	}
	// An empty routing key or key is a value, not a missing flag.
	r := runInProcess(t, false, nil, "produce", "orders", "x", "--url", url, "-k", "", "--timeout", "1s")
	if strings.Contains(r.stderr, "empty value") {
		t.Errorf("-k '': %q", r.stderr)
	}
}

// The confirmation question and a --check status line name a
// destination: on a terminal its escape sequences show escaped.
func TestDLQPromptAndCheckLineOnTerminal(t *testing.T) {
	name := "q\x1b]0;pwned\x07\x1b[2J\u202e"
	io, out, errOut := output.Test()
	io.InTTY, io.OutTTY, io.ErrTTY = true, true, true
	io.In = strings.NewReader("no\n")
	if err := confirm(io, false, "Delete the dead letters of "+name+"?", name); err == nil {
		t.Fatal("confirmed by a wrong answer")
	}
	_ = printChecked(io, 0, "WARN dlq="+name, func() error { return nil })
	for what, s := range map[string]string{"prompt": errOut.String(), "check line": out.String()} {
		if output.TerminalSafe(strings.ReplaceAll(s, "\n", "")) != strings.ReplaceAll(s, "\n", "") {
			t.Errorf("%s reaches the terminal raw: %q", what, s)
		}
	}
}

// context add checks --management-url when it is given, not at the first
// command that lists: exit 2, one line naming the flag, never the
// password, and nothing saved (issue 16 item I).
func TestContextAddChecksManagementURL(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	env := map[string]string{"MQCTL_CONFIG": cfg}
	for _, bad := range []string{"localhost:15672", "ftp://h:15672", "http://", "http://ops:s3cret-mgmt@h:port", "https//ops:s3cret-mgmt@h"} {
		r := runInProcess(t, false, env, "context", "add", "rmq", "--url", "amqp://h:5672/", "--management-url", bad)
		if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "mqctl: --management-url ") {
			t.Errorf("--management-url %q: exit %d, stderr %q; want 2 and one line naming the flag", bad, r.code, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, "s3cret") {
			t.Errorf("--management-url %q: the password is in the output: %q", bad, r.stderr)
		}
		if _, err := os.Stat(cfg); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("--management-url %q: the config was written (%v)", bad, err)
		}
	}
	if r := runInProcess(t, false, env, "context", "add", "rmq", "--url", "amqp://h:5672/", "--management-url", "https://ops:s3cret-mgmt@h:15671/"); r.code != 0 {
		t.Errorf("a good --management-url was refused: %+v", r)
	}
}
