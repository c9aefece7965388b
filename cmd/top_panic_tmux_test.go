package cmd_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mqctl/mqctl/internal/testenv"
)

// A panic inside top (forced by a key that only a binary built with
// -tags mqctl_testhooks honours) leaves the terminal as it was: cooked
// mode, echo on, the alternate screen left, the cursor shown. The process
// exits 1 with one line naming the panic and the file holding its stack;
// no stack is written on the screen.
func TestTopPanicRestoresTerminal(t *testing.T) {
	needTmux(t)
	bin := filepath.Join(t.TempDir(), "mqctl")
	build := exec.Command("go", "build", "-tags", "mqctl_testhooks", "-o", bin, "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags mqctl_testhooks: %v\n%s", err, out)
	}
	k, _ := kafkaTopic(t, "t", 1, nil)
	session := testenv.UniqueName(t, "toppanic")
	tmp := t.TempDir()
	script := fmt.Sprintf("stty sane; env TMPDIR=%s MQCTL_TEST_TOP_PANIC_KEY=ctrl+p MQCTL_CONFIG=%s NO_COLOR=1 %s top --url %s; echo EXIT=$?; echo STTY=$(stty -a | tr ' ' '\\n' | grep -xE -- '-?(icanon|echo)'); sleep 60",
		tmp, filepath.Join(tmp, "config.yaml"), bin, k.URL)
	newSession(t, "-d", "-s", session, "-x", "120", "-y", "30", script)
	t.Cleanup(func() { exec.Command("tmux", "kill-session", "-t", session).Run() })
	waitPane(t, session, "mqctl top · overview")
	tmux(t, "send-keys", "-t", session, "C-p")
	waitPane(t, session, "EXIT=1")
	screen := waitPane(t, session, "STTY=")
	if alt, cursor := paneModes(t, session); alt || !cursor {
		t.Errorf("after the panic: alternate screen %v, cursor visible %v; want false, true", alt, cursor)
	}
	if !strings.Contains(screen, "STTY=icanon echo") {
		t.Errorf("the terminal is not back in cooked mode with echo:\n%s", screen)
	}
	if strings.Contains(screen, "goroutine ") || strings.Contains(screen, ".go:") {
		t.Errorf("a stack reached the screen:\n%s", screen)
	}
	m := regexp.MustCompile(`mqctl: internal error: panic: test hook: ctrl\+p pressed; the terminal was restored, the stack is in (/\S+?\.log)`).
		FindStringSubmatch(strings.ReplaceAll(screen, "\n", ""))
	if m == nil {
		t.Fatalf("no one-line message naming the stack's file:\n%s", screen)
	}
	stack, err := os.ReadFile(m[1])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(stack), "goroutine ") || !strings.Contains(string(stack), "internal/tui.(*Model).key") {
		t.Errorf("the file holds no stack of the panic:\n%s", stack)
	}
}
