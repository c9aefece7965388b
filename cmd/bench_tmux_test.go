package cmd_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// liveLine is bench's per-second line on a terminal's stderr.
var liveLine = regexp.MustCompile(`(?m)^\s*\d+s  sent \d+  confirmed \d+  received \d+  \d+ msg/s  \d+\.\d\d MiB/s  p99 \S+  in flight \d+\s*$`)

// bench as a person sees it in a terminal: one live line on stderr,
// rewritten in place each second (msgs/s, MiB/s, p99, in flight), gone
// when the summary prints; in a pipe the same run writes no line and no
// control character.
func TestBenchLiveLineInATerminal(t *testing.T) {
	needTmux(t)
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	session := testenv.UniqueName(t, "bench")
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	script := fmt.Sprintf("env MQCTL_CONFIG=%s NO_COLOR=1 %s bench --url %s --rate 500 --duration 4s --size 100; echo EXIT=$?; sleep 60", cfg, mqctlBin, srv.URL)
	tmux(t, "new-session", "-d", "-s", session, "-x", "200", "-y", "40", script)
	t.Cleanup(func() { exec.Command("tmux", "kill-session", "-t", session).Run() })

	screen := waitPane(t, session, "2s  sent")
	if n := len(liveLine.FindAllString(screen, -1)); n != 1 {
		t.Errorf("want one live line rewritten in place, the terminal shows %d:\n%s", n, screen)
	}
	if !strings.Contains(screen, "msg/s") || !strings.Contains(screen, "in flight") {
		t.Errorf("screen:\n%s", screen)
	}
	screen = waitPane(t, session, "EXIT=0")
	if liveLine.MatchString(screen) {
		t.Errorf("the live line stays on screen after the summary:\n%s", screen)
	}
	if !strings.Contains(screen, "publish→confirm") {
		t.Errorf("no summary:\n%s", screen)
	}

	errFile := filepath.Join(t.TempDir(), "stderr")
	cmd := exec.Command(mqctlBin, "bench", "--url", srv.URL, "--rate", "500", "--duration", "2s", "--size", "100")
	cmd.Env = append(os.Environ(), "MQCTL_CONFIG="+cfg)
	f, err := os.Create(errFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = f
	out, err := cmd.Output()
	f.Close()
	if err != nil {
		t.Fatalf("bench in a pipe: %v", err)
	}
	stderr, _ := os.ReadFile(errFile)
	if strings.ContainsAny(string(out)+string(stderr), "\r\x1b") || liveLine.Match(stderr) {
		t.Errorf("pipe output holds a live line or control characters:\nstdout %q\nstderr %q", out, stderr)
	}
}
