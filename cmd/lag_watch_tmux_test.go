package cmd_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
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

// needTmux skips (or in CI fails) a test when tmux is missing.
func needTmux(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if testenv.CI() {
			t.Fatal("tmux not installed: make test installs it")
		}
		t.Skip("tmux not installed")
	}
}

// lag --watch as a person sees it in a terminal: one table refreshed in
// place, a group whose commit stands still while records arrive turns
// STALL, and Ctrl-C ends it as an interrupt (130), as everywhere else.
func TestLagWatchInATerminal(t *testing.T) {
	needTmux(t)
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
	waitPane(t, session, "EXIT=130")
}

// wrapped returns the rows of the pane that the terminal wrapped: the
// lines that capture-pane -J joins.
func wrapped(t *testing.T, session string) (screen string, rows []string) {
	t.Helper()
	plain := strings.Split(tmux(t, "capture-pane", "-p", "-t", session), "\n")
	joined := strings.Split(tmux(t, "capture-pane", "-p", "-J", "-t", session), "\n")
	if len(plain) == len(joined) {
		return strings.Join(plain, "\n"), nil
	}
	for _, line := range joined {
		if !slices.Contains(plain, line) {
			rows = append(rows, line)
		}
	}
	return strings.Join(plain, "\n"), rows
}

// waitRefresh waits until the pane shows want after the title's clock
// moved on, so what it shows was drawn after whatever came before.
func waitRefresh(t *testing.T, session, want string) string {
	t.Helper()
	first, _, _ := strings.Cut(tmux(t, "capture-pane", "-p", "-t", session), "\n")
	deadline := time.Now().Add(20 * time.Second)
	for {
		screen := tmux(t, "capture-pane", "-p", "-t", session)
		title, _, _ := strings.Cut(screen, "\n")
		if title != first && strings.Contains(screen, want) {
			return screen
		}
		if time.Now().After(deadline) {
			t.Fatalf("no refresh showing %q; the terminal shows:\n%s", want, screen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The three brokers side by side made a 231-column table: at 200 columns
// every row wrapped, at 80x24 it was unreadable. It fits the terminal,
// drops the columns --help names, re-reads the size when the window is
// resized, and -o wide shows every column.
func TestLagWatchFitsTheTerminal(t *testing.T) {
	needTmux(t)
	rmq := testenv.RabbitMQ(t)
	queue := queueWithMessages(t, rmq, "watchfit", 5)
	n, js, _ := natsStream(t, "WATCHFIT", []string{"wf.>"}, "wf.x", 9)
	if _, err := js.CreateOrUpdateConsumer(context.Background(), "WATCHFIT", jetstream.ConsumerConfig{Durable: "a-consumer-with-a-long-name", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	k, cl := lagGroup(t)
	keepProducing(t, cl, "orders", 100*time.Millisecond)
	c := newCLI(t)
	for _, args := range [][]string{
		{"context", "add", "a-kafka-context", "--url", k.URL},
		{"context", "add", "a-rabbitmq-context", "--url", rmq.AMQPURL, "--management-url", rmq.APIURL},
		{"context", "add", "a-nats-context", "--url", n.URL},
	} {
		if r := c.run(args...); r.code != 0 {
			t.Fatalf("%v: %s", args, r.stderr)
		}
	}
	// The wide table, as -o wide prints it, is wider than 200 columns.
	wide := c.run("lag", "-c", "a-kafka-context,a-rabbitmq-context,a-nats-context", "billing", queue, "WATCHFIT", "-o", "wide")
	widest := 0
	for _, line := range strings.Split(wide.stdout, "\n") {
		widest = max(widest, len(strings.ReplaceAll(line, "\t", "  ")))
	}
	if widest < 120 {
		t.Fatalf("the table is only %d columns wide; the test needs a wide one:\n%s", widest, wide.stdout)
	}

	session := testenv.UniqueName(t, "watchfit")
	script := fmt.Sprintf("env MQCTL_CONFIG=%s NO_COLOR=1 %s lag -c a-kafka-context,a-rabbitmq-context,a-nats-context billing %s WATCHFIT --watch --interval 300ms --samples 3; echo EXIT=$?; sleep 60",
		c.config, mqctlBin, queue)
	tmux(t, "new-session", "-d", "-s", session, "-x", "80", "-y", "24", script)
	t.Cleanup(func() { exec.Command("tmux", "kill-session", "-t", session).Run() })

	waitPane(t, session, "STALL")
	screen, rows := wrapped(t, session)
	if len(rows) > 0 {
		t.Errorf("at 80x24 these rows wrapped:\n%s\nscreen:\n%s", strings.Join(rows, "\n"), screen)
	}
	for _, want := range []string{"mqctl lag --watch", "columns hidden (-o wide)", "a-kafka-context", "a-rabbitmq-c", "billing", "LAG", "STATUS"} {
		if !strings.Contains(screen, want) {
			t.Errorf("at 80x24 the screen does not show %q:\n%s", want, screen)
		}
	}
	if strings.Contains(screen, "PUBLISH/S") || strings.Contains(screen, "COMMITTED") {
		t.Errorf("at 80x24 low-priority columns are still shown:\n%s", screen)
	}

	// Resized, the next refresh uses the new size.
	tmux(t, "resize-window", "-t", session, "-x", "200", "-y", "50")
	screen = waitRefresh(t, session, "COMMITTED")
	if _, rows := wrapped(t, session); len(rows) > 0 {
		t.Errorf("at 200x50 these rows wrapped:\n%s\nscreen:\n%s", strings.Join(rows, "\n"), screen)
	}
	if !strings.Contains(screen, "a-consumer-with-a-long-name") {
		t.Errorf("at 200 columns names are shown whole:\n%s", screen)
	}

	// A window too short for the rows keeps the title and says how many
	// rows did not fit.
	tmux(t, "resize-window", "-t", session, "-x", "80", "-y", "6")
	screen = waitRefresh(t, session, "more rows")
	if !strings.HasPrefix(screen, "mqctl lag --watch") {
		t.Errorf("at 80x6 the title scrolled away:\n%s", screen)
	}

	tmux(t, "send-keys", "-t", session, "C-c")
	waitPane(t, session, "EXIT=130")
}
