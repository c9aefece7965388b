package cmd_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/testenv"
)

// mqctl top as a person uses it, against a real (kfake) broker: a lagging
// group shows, the dead-letter view opens a DLT and peeks its message with
// its decoded reason, the broker dies and its rows go stale while keys
// still answer, q quits with 0 and the terminal leaves the alternate
// screen.
func TestTopInATerminal(t *testing.T) {
	needTmux(t)
	k, cl := kafkaTopic(t, "orders", 1, nil)
	produceRecords(t, cl, "orders", 10)
	offs := kadm.Offsets{}
	offs.AddOffset("orders", 0, 4, -1)
	if _, err := kadm.NewClient(cl).CommitOffsets(context.Background(), "billing", offs); err != nil {
		t.Fatal(err)
	}
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1, nil, "orders.DLT"); err != nil {
		t.Fatal(err)
	}
	rec := &kgo.Record{Topic: "orders.DLT", Value: []byte(`{"id":7}`), Headers: []kgo.RecordHeader{
		{Key: "mq-original-destination", Value: []byte("orders")},
		{Key: "mq-death-reason", Value: []byte("poison \x1b[2J pill")},
	}}
	if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
		t.Fatal(err)
	}

	session := testenv.UniqueName(t, "top")
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	script := fmt.Sprintf("env MQCTL_CONFIG=%s NO_COLOR=1 %s top --url %s --interval 300ms --timeout 2s; echo EXIT=$?; sleep 60", cfg, mqctlBin, k.URL)
	tmux(t, "new-session", "-d", "-s", session, "-x", "120", "-y", "30", script)
	t.Cleanup(func() { exec.Command("tmux", "kill-session", "-t", session).Run() })

	waitPane(t, session, "mqctl top · overview")
	if alt := strings.TrimSpace(tmux(t, "display", "-p", "-t", session, "#{alternate_on}")); alt != "1" {
		t.Errorf("top is not on the alternate screen: alternate_on=%s", alt)
	}
	tmux(t, "send-keys", "-t", session, "3")
	screen := waitPane(t, session, "billing")
	if !strings.Contains(screen, "orders/0") || !strings.Contains(screen, " 6 ") {
		t.Errorf("billing should lag by 6 on orders/0:\n%s", screen)
	}
	tmux(t, "send-keys", "-t", session, "4")
	waitPane(t, session, "orders.DLT")
	tmux(t, "send-keys", "-t", session, "Enter")
	screen = waitPane(t, session, `"id": 7`)
	if !strings.Contains(screen, `poison \x1b[2J pill`) {
		t.Errorf("the reason must show, escaped:\n%s", screen)
	}
	tmux(t, "send-keys", "-t", session, "Escape")
	waitPane(t, session, "mqctl top · deadletters")

	if screen := tmux(t, "capture-pane", "-p", "-t", session); strings.Contains(screen, "stale") {
		t.Fatalf("stale before the broker died:\n%s", screen)
	}
	k.Close()
	waitPane(t, session, "stale")
	tmux(t, "send-keys", "-t", session, "2")
	waitPane(t, session, "mqctl top · destinations")

	tmux(t, "send-keys", "-t", session, "q")
	waitPane(t, session, "EXIT=0")
	if alt := strings.TrimSpace(tmux(t, "display", "-p", "-t", session, "#{alternate_on}")); alt != "0" {
		t.Errorf("the terminal was not restored: alternate_on=%s", alt)
	}
}

// SIGTERM ends top as a quit: exit 0 and the terminal restored.
func TestTopSIGTERMRestoresTerminal(t *testing.T) {
	needTmux(t)
	k, _ := kafkaTopic(t, "t", 1, nil)
	session := testenv.UniqueName(t, "topterm")
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	script := fmt.Sprintf("env MQCTL_CONFIG=%s NO_COLOR=1 %s top --url %s </dev/tty & echo PID=$!; wait $!; echo EXIT=$?; sleep 60", cfg, mqctlBin, k.URL)
	tmux(t, "new-session", "-d", "-s", session, "-x", "80", "-y", "24", script)
	t.Cleanup(func() { exec.Command("tmux", "kill-session", "-t", session).Run() })
	waitPane(t, session, "mqctl top · overview")
	pid := ""
	for _, l := range strings.Split(tmux(t, "capture-pane", "-p", "-S", "-100", "-E", "-1", "-t", session), "\n") {
		if p, ok := strings.CutPrefix(strings.TrimSpace(l), "PID="); ok {
			pid = p
		}
	}
	if pid == "" {
		// The alternate screen hides the line; the process is the shell's child.
		out, err := exec.Command("tmux", "display", "-p", "-t", session, "#{pane_pid}").Output()
		if err != nil {
			t.Fatal(err)
		}
		kids, _ := exec.Command("pgrep", "-P", strings.TrimSpace(string(out))).Output()
		pid = strings.TrimSpace(strings.Split(string(kids), "\n")[0])
	}
	if pid == "" {
		t.Fatal("no pid of mqctl top")
	}
	if err := exec.Command("kill", "-TERM", pid).Run(); err != nil {
		t.Fatal(err)
	}
	waitPane(t, session, "EXIT=0")
	if alt := strings.TrimSpace(tmux(t, "display", "-p", "-t", session, "#{alternate_on}")); alt != "0" {
		t.Errorf("the terminal was not restored: alternate_on=%s", alt)
	}
}
