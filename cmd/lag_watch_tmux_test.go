package cmd_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/testenv"
)

// keepProducing produces a record to topic every interval until t ends.
func keepProducing(t *testing.T, cl *kgo.Client, topic string, interval time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		for ctx.Err() == nil {
			cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("more")})
			time.Sleep(interval)
		}
	}()
}

// tmux runs a tmux command, failing the test on error.
func tmux(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("tmux", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("tmux %v: %v: %s", args, err, out)
	}
	return string(out)
}

// waitPane polls the pane until it holds want, returning what it shows.
func waitPane(t *testing.T, session, want string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		screen := tmux(t, "capture-pane", "-p", "-t", session)
		if strings.Contains(screen, want) {
			return screen
		}
		if time.Now().After(deadline) {
			t.Fatalf("the terminal never showed %q; it shows:\n%s", want, screen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lag --watch as a person sees it in a terminal: one table refreshed in
// place, a group whose commit stands still while records arrive turns
// STALL, and Ctrl-C ends it cleanly.
func TestLagWatchInATerminal(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tmux not installed: make test installs it")
		}
		t.Skip("tmux not installed")
	}
	k, cl := kafkaTopic(t, "w", 1, nil)
	produceRecords(t, cl, "w", 10)
	offs := kadm.Offsets{}
	offs.AddOffset("w", 0, 5, -1)
	if _, err := kadm.NewClient(cl).CommitOffsets(context.Background(), "stuck", offs); err != nil {
		t.Fatal(err)
	}
	// Records keep arriving; the group never commits again.
	keepProducing(t, cl, "w", 100*time.Millisecond)

	session := testenv.UniqueName(t, "watch")
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	script := fmt.Sprintf("env MQCTL_CONFIG=%s NO_COLOR=1 %s lag --url %s --watch --interval 300ms --samples 3; echo EXIT=$?; sleep 60", cfg, mqctlBin, k.URL)
	tmux(t, "new-session", "-d", "-s", session, "-x", "200", "-y", "30", script)
	t.Cleanup(func() { exec.Command("tmux", "kill-session", "-t", session).Run() })

	screen := waitPane(t, session, "STALL")
	if n := strings.Count(screen, "mqctl lag --watch"); n != 1 {
		t.Errorf("the table must refresh in place: the title shows %d times:\n%s", n, screen)
	}
	if !strings.Contains(screen, "stuck") || !strings.Contains(screen, "STATUS") {
		t.Errorf("screen:\n%s", screen)
	}
	tmux(t, "send-keys", "-t", session, "C-c")
	waitPane(t, session, "EXIT=0")
}
