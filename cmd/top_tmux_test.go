package cmd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
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

// A replay from top as a person does it, at 80x24 against a real
// (embedded JetStream) broker: R on a dead-letter stream shows the dry
// run's count and target, y replays, the status line says what was done,
// the stream's depth drops to 0 on screen, the messages are back in their
// stream, and the audit log has the action's steps.
func TestTopReplayInATerminal(t *testing.T) {
	needTmux(t)
	e := newJSEnv(t)
	e.stream(jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	e.stream(jetstream.StreamConfig{Name: "ORDERS_DLQ", Subjects: []string{"dlq.orders"}})
	for i := range 3 {
		e.publish("dlq.orders", "order-"+strconv.Itoa(i), "tenant", "eu", "mq-original-destination", "orders.eu",
			"mq-original-subject", "orders.eu", "mq-death-reason", "price missing")
	}

	session := testenv.UniqueName(t, "topreplay")
	dir := t.TempDir()
	script := fmt.Sprintf("env MQCTL_CONFIG=%s XDG_STATE_HOME=%s NO_COLOR=1 %s top --url %s --interval 300ms --timeout 5s; echo EXIT=$?; sleep 60",
		filepath.Join(dir, "config.yaml"), dir, mqctlBin, e.url)
	tmux(t, "new-session", "-d", "-s", session, "-x", "80", "-y", "24", script)
	t.Cleanup(func() { exec.Command("tmux", "kill-session", "-t", session).Run() })

	waitPane(t, session, "mqctl top · overview")
	tmux(t, "send-keys", "-t", session, "4")
	screen := waitPane(t, session, "ORDERS_DLQ")
	if d := dlqDepth(screen, "ORDERS_DLQ"); d != "3" {
		t.Fatalf("ORDERS_DLQ shows depth %q, want 3:\n%s", d, screen)
	}
	if !strings.Contains(screen, "? help  q quit") {
		t.Errorf("at 80x24 the footer lost help and quit:\n%s", screen)
	}
	tmux(t, "send-keys", "-t", session, "R")
	screen = waitPane(t, session, "Replay 3 dead letters of ORDERS_DLQ")
	if !strings.Contains(screen, "3 → orders.eu") {
		t.Errorf("the dialog does not say where they go:\n%s", screen)
	}
	if n := e.depth("ORDERS_DLQ"); n != 3 {
		t.Fatalf("the dry run changed ORDERS_DLQ: %d left", n)
	}
	tmux(t, "send-keys", "-t", session, "y")
	waitPane(t, session, "replay ORDERS_DLQ: read 3, replayed 3")
	deadline := time.Now().Add(20 * time.Second)
	for d := ""; d != "0"; {
		screen = tmux(t, "capture-pane", "-p", "-t", session)
		if d = dlqDepth(screen, "ORDERS_DLQ"); d != "0" && time.Now().After(deadline) {
			t.Fatalf("ORDERS_DLQ still shows depth %q after the replay:\n%s", d, screen)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := e.depth("ORDERS_DLQ"); n != 0 {
		t.Errorf("ORDERS_DLQ holds %d after the replay", n)
	}
	for i, m := range e.all("ORDERS") {
		if m.Subject != "orders.eu" || string(m.Data) != "order-"+strconv.Itoa(i) || m.Header.Get("tenant") != "eu" || m.Header.Get("mq-replay-count") != "1" {
			t.Errorf("replayed %d: %s %q %v", i, m.Subject, m.Data, m.Header)
		}
	}
	if n := e.depth("ORDERS"); n != 3 {
		t.Errorf("ORDERS holds %d, want the 3 replayed", n)
	}

	tmux(t, "send-keys", "-t", session, "q")
	waitPane(t, session, "EXIT=0")
	log, err := os.ReadFile(filepath.Join(dir, "mqctl", "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var evs []string
	for _, l := range strings.Split(strings.TrimSpace(string(log)), "\n") {
		var r struct {
			Event, Action, Destination string
			Counts                     map[string]int64
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		evs = append(evs, r.Event)
		if r.Event == "finished" && (r.Action != "replay" || r.Destination != "ORDERS_DLQ" || r.Counts["replayed"] != 3) {
			t.Errorf("finished record %s", l)
		}
	}
	if got := strings.Join(evs, " "); got != "attempted confirmed finished" {
		t.Errorf("audit events %q", got)
	}
}

// dlqDepth is the DEPTH cell of dest's row in the dead-letter view.
func dlqDepth(screen, dest string) string {
	for _, l := range strings.Split(screen, "\n") {
		f := strings.Fields(strings.TrimPrefix(l, ">"))
		if len(f) > 3 && f[1] == dest {
			return f[3]
		}
	}
	return ""
}
