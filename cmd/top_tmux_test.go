package cmd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/sandbox"
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
	newSession(t, "-d", "-s", session, "-x", "120", "-y", "30", script)
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
	screen = waitPane(t, session, "orders.DLT")
	// The row's top reason and origin come from the same read as its
	// depth, the reason escaped like every cell.
	if row := paneLine(screen, "orders.DLT"); !strings.Contains(row, `poison \x1b[2J pill`) || !strings.Contains(row, " orders ") {
		t.Errorf("the DLT row should show its top reason and origin:\n%s", screen)
	}
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

// paneModes reports whether the pane is on the alternate screen and
// whether its cursor is visible, as tmux tracks them from the escape
// sequences the program wrote.
func paneModes(t *testing.T, session string) (alt, cursor bool) {
	t.Helper()
	f := strings.Fields(tmux(t, "display", "-p", "-t", session, "#{alternate_on} #{cursor_flag}"))
	if len(f) != 2 {
		t.Fatalf("tmux display: %q", f)
	}
	return f[0] == "1", f[1] == "1"
}

// Each way top is stopped from outside or by Ctrl-C ends with the exit
// code top --help gives (SIGTERM 0 as a quit; SIGINT and the Ctrl-C key
// 130) and restores the terminal: the alternate screen left and the
// cursor visible again.
func TestTopSignalsRestoreTerminal(t *testing.T) {
	needTmux(t)
	k, _ := kafkaTopic(t, "t", 1, nil)
	for _, tc := range []struct {
		name, signal, key string
		code              int
	}{
		{name: "SIGTERM", signal: "-TERM", code: 0},
		{name: "SIGINT", signal: "-INT", code: 130},
		{name: "Ctrl-C", key: "C-c", code: 130},
	} {
		t.Run(tc.name, func(t *testing.T) {
			session := testenv.UniqueName(t, "topsig")
			cfg := filepath.Join(t.TempDir(), "config.yaml")
			script := fmt.Sprintf("env MQCTL_CONFIG=%s NO_COLOR=1 %s top --url %s </dev/tty & echo PID=$!; wait $!; echo EXIT=$?; sleep 60", cfg, mqctlBin, k.URL)
			newSession(t, "-d", "-s", session, "-x", "80", "-y", "24", script)
			t.Cleanup(func() { exec.Command("tmux", "kill-session", "-t", session).Run() })
			waitPane(t, session, "mqctl top · overview")
			if alt, cursor := paneModes(t, session); !alt || cursor {
				t.Fatalf("while top runs: alternate screen %v, cursor visible %v; want true, false", alt, cursor)
			}
			if tc.key != "" {
				tmux(t, "send-keys", "-t", session, tc.key)
			} else if err := exec.Command("kill", tc.signal, topPID(t, session)).Run(); err != nil {
				t.Fatal(err)
			}
			waitPane(t, session, "EXIT="+strconv.Itoa(tc.code))
			if alt, cursor := paneModes(t, session); alt || !cursor {
				t.Errorf("the terminal was not restored: alternate screen %v, cursor visible %v", alt, cursor)
			}
		})
	}
}

// topPID is the pid of the mqctl top the session's shell started in the
// background.
func topPID(t *testing.T, session string) string {
	t.Helper()
	for _, l := range strings.Split(tmux(t, "capture-pane", "-p", "-S", "-100", "-E", "-1", "-t", session), "\n") {
		if p, ok := strings.CutPrefix(strings.TrimSpace(l), "PID="); ok {
			return p
		}
	}
	// The alternate screen hides the line; the process is the shell's child.
	out, err := exec.Command("tmux", "display", "-p", "-t", session, "#{pane_pid}").Output()
	if err != nil {
		t.Fatal(err)
	}
	kids, _ := exec.Command("pgrep", "-P", strings.TrimSpace(string(out))).Output()
	pid := strings.TrimSpace(strings.Split(string(kids), "\n")[0])
	if pid == "" {
		t.Fatal("no pid of mqctl top")
	}
	return pid
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
	newSession(t, "-d", "-s", session, "-x", "80", "-y", "24", script)
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

// paneLine is the first line of screen that holds s.
func paneLine(screen, s string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
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

// topSession runs `mqctl top ARGS` with c's config in a w×h tmux session
// (NO_COLOR set); the shell prints EXIT=<code> when top ends.
func topSession(t *testing.T, c *cli, w, h int, args ...string) string {
	t.Helper()
	session := testenv.UniqueName(t, "top")
	script := fmt.Sprintf("env -u MQCTL_CONTEXT -u MQCTL_URL MQCTL_CONFIG=%s XDG_STATE_HOME=%s NO_COLOR=1 %s top %s; echo EXIT=$?; sleep 60",
		c.config, t.TempDir(), mqctlBin, strings.Join(args, " "))
	newSession(t, "-d", "-s", session, "-x", strconv.Itoa(w), "-y", strconv.Itoa(h), script)
	t.Cleanup(func() { exec.Command("tmux", "kill-session", "-t", session).Run() })
	waitPane(t, session, "mqctl top · overview")
	return session
}

// waitScreen polls the pane until ok holds for what it shows, for up to
// within (a bound on a broker's backoff, not a speed assertion).
func waitScreen(t *testing.T, session string, within time.Duration, what string, ok func(screen string) bool) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		screen := tmux(t, "capture-pane", "-p", "-t", session)
		if ok(screen) {
			return screen
		}
		if time.Now().After(deadline) {
			t.Fatalf("the terminal never showed %s; it shows:\n%s", what, screen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// paneRow is the fields of the table row whose first fields are lead (the
// cursor mark left out), or nil.
func paneRow(screen string, lead ...string) []string {
	for _, l := range strings.Split(screen, "\n") {
		f := strings.Fields(strings.TrimPrefix(l, ">"))
		if len(f) >= len(lead) && slices.Equal(f[:len(lead)], lead) {
			return f
		}
	}
	return nil
}

// cell is field i of the row led by lead, or "".
func cell(screen string, i int, lead ...string) string {
	if f := paneRow(screen, lead...); i < len(f) {
		return f[i]
	}
	return ""
}

// statusLine is the line above the key hints: where top reports errors.
func statusLine(screen string) string {
	ls := strings.Split(strings.TrimRight(screen, "\n"), "\n")
	for i := len(ls) - 1; i > 0; i-- {
		if strings.Contains(ls[i], "q quit") {
			return strings.TrimSpace(ls[i-1])
		}
	}
	return ""
}

var staleAge = regexp.MustCompile(`\bstale [0-9]+[smhd]\b`)

// A broker restart while top runs: the NATS context's rows stay on screen
// marked stale with an age, its error is in the status line (the table
// keeps its header and rows), the Kafka context stays live and keys still
// answer; when nats-server is back on the same port and store, its rows
// turn live again without a key pressed or top restarted.
func TestTopBrokerRestartInATerminal(t *testing.T) {
	needTmux(t)
	k, cl := kafkaTopic(t, "orders", 1, nil)
	produceRecords(t, cl, "orders", 4)
	store := t.TempDir()
	srv, err := sandbox.StartNATS(sandbox.NATSOptions{StoreDir: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if srv != nil {
			srv.Close()
		}
	})
	port := srv.Server().Addr().(*net.TCPAddr).Port
	nc, err := nats.Connect(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := js.Publish(context.Background(), "orders.eu", []byte("o")); err != nil {
			t.Fatal(err)
		}
	}
	nc.Close()

	c := newCLI(t)
	for _, a := range [][]string{{"kafka", k.URL}, {"js", srv.URL}} {
		if r := c.run("context", "add", a[0], "--url", a[1]); r.code != 0 {
			t.Fatalf("context add %s: %+v", a[0], r)
		}
	}
	// An interval of 2s keeps the Kafka rows fresh (4s) on a loaded machine.
	session := topSession(t, c, 120, 30, "-c", "kafka,js", "--interval", "2s", "--timeout", "1s")
	tmux(t, "send-keys", "-t", session, "2")
	waitScreen(t, session, 20*time.Second, "orders at 4 and ORDERS at 3", func(s string) bool {
		return cell(s, 3, "kafka", "orders") == "4" && cell(s, 3, "js", "ORDERS") == "3"
	})
	if screen := tmux(t, "capture-pane", "-p", "-t", session); strings.Contains(screen, "stale") || statusLine(screen) != "" {
		t.Fatalf("stale or an error before the broker went away:\n%s", screen)
	}

	srv.Close() // the store stays: it is not a temporary one
	screen := waitScreen(t, session, 20*time.Second, "ORDERS stale with an age", func(s string) bool {
		return staleAge.MatchString(strings.Join(paneRow(s, "js", "ORDERS"), " "))
	})
	if d := cell(screen, 3, "js", "ORDERS"); d != "3" {
		t.Errorf("the stale ORDERS row lost its last depth: %q\n%s", d, screen)
	}
	if f := paneRow(screen, "kafka", "orders"); f == nil || strings.Contains(strings.Join(f, " "), "stale") {
		t.Errorf("the Kafka context went stale with NATS:\n%s", screen)
	}
	if st := statusLine(screen); !strings.HasPrefix(st, "js: ") || !strings.Contains(st, "retry in") {
		t.Errorf("the status line does not say what failed and when it retries: %q\n%s", st, screen)
	}
	if ls := strings.Split(screen, "\n"); !strings.HasPrefix(ls[0], "mqctl top · destinations") || !strings.Contains(ls[1], "CONTEXT") {
		t.Errorf("the error went over the table:\n%s", screen)
	}
	// Keys answer while a context is down; the overview says which is.
	tmux(t, "send-keys", "-t", session, "1")
	screen = waitPane(t, session, "mqctl top · overview")
	if r := cell(screen, 2, "js", "nats"); r != "error:" {
		t.Errorf("the overview does not show the NATS context unreachable (%q):\n%s", r, screen)
	}
	if r := cell(screen, 2, "kafka", "kafka"); r != "ok" {
		t.Errorf("the Kafka context is not ok (%q):\n%s", r, screen)
	}
	tmux(t, "send-keys", "-t", session, "2")
	waitPane(t, session, "mqctl top · destinations")

	srv, err = sandbox.StartNATS(sandbox.NATSOptions{Port: port, StoreDir: store})
	if err != nil {
		t.Fatalf("restart nats-server on port %d: %v", port, err)
	}
	// The backoff has grown to a few intervals while it was down.
	screen = waitScreen(t, session, 60*time.Second, "ORDERS live again", func(s string) bool {
		return paneRow(s, "js", "ORDERS") != nil && !strings.Contains(s, "stale") && statusLine(s) == ""
	})
	if d := cell(screen, 3, "js", "ORDERS"); d != "3" {
		t.Errorf("ORDERS after the restart shows depth %q, want 3:\n%s", d, screen)
	}
	tmux(t, "send-keys", "-t", session, "q")
	waitPane(t, session, "EXIT=0")
}

// The Overview and Destinations views of a RabbitMQ context (a vhost of
// its own: two queues, one a dead-letter queue) and a JetStream context
// (two streams) show the depths the brokers hold; the Consumers view shows
// a JetStream consumer's lag and a queue's.
func TestTopRabbitMQAndJetStreamInATerminal(t *testing.T) {
	needTmux(t)
	rmq := testenv.RabbitMQ(t)
	u := strings.TrimSuffix(rmq.AMQPURL, "/") + "/" + rmq.NewVHost(t)
	conn, err := amqp.Dial(u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	for q, n := range map[string]int{"orders": 5, "orders.dlq": 2} {
		if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
		for range n {
			c, err := ch.PublishWithDeferredConfirm("", q, true, false, amqp.Publishing{Body: []byte("x")})
			if err != nil || !c.Wait() {
				t.Fatalf("publish to %s: %v", q, err)
			}
		}
	}
	e := newJSEnv(t)
	e.stream(jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	e.stream(jetstream.StreamConfig{Name: "ORDERS_DLQ", Subjects: []string{"dlq.orders"}})
	for i := range 3 {
		e.publish("orders.eu", "o"+strconv.Itoa(i))
	}
	for i := range 2 {
		e.publish("dlq.orders", "d"+strconv.Itoa(i))
	}
	if _, err := e.js.CreateOrUpdateConsumer(context.Background(), "ORDERS", jetstream.ConsumerConfig{Durable: "billing", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}

	c := newCLI(t)
	if r := c.run("context", "add", "rmq", "--url", u, "--management-url", rmq.APIURL); r.code != 0 {
		t.Fatalf("context add rmq: %+v", r)
	}
	if r := c.run("context", "add", "js", "--url", e.url); r.code != 0 {
		t.Fatalf("context add js: %+v", r)
	}
	session := topSession(t, c, 120, 30, "-c", "rmq,js", "--interval", "500ms", "--timeout", "5s")
	// The management API's counts trail the broker by its stats interval.
	screen := waitScreen(t, session, 30*time.Second, "both contexts with their dead letters", func(s string) bool {
		return cell(s, 5, "rmq", "rabbitmq", "ok") == "2" && cell(s, 5, "js", "nats", "ok") == "2"
	})
	for _, lead := range [][]string{{"rmq", "rabbitmq", "ok"}, {"js", "nats", "ok"}} {
		if d := cell(screen, 3, lead...); d != "2" {
			t.Errorf("overview: context %s shows %q destinations, want 2:\n%s", lead[0], d, screen)
		}
	}
	tmux(t, "send-keys", "-t", session, "2")
	want := map[[2]string]string{{"rmq", "orders"}: "5", {"rmq", "orders.dlq"}: "2", {"js", "ORDERS"}: "3", {"js", "ORDERS_DLQ"}: "2"}
	screen = waitScreen(t, session, 30*time.Second, "every depth", func(s string) bool {
		for k, d := range want {
			if cell(s, 3, k[0], k[1]) != d {
				return false
			}
		}
		return true
	})
	for k := range want {
		if typ := cell(screen, 2, k[0], k[1]); typ != map[string]string{"rmq": "queue", "js": "stream"}[k[0]] {
			t.Errorf("%s/%s has type %q:\n%s", k[0], k[1], typ, screen)
		}
	}
	if strings.Contains(screen, "stale") || statusLine(screen) != "" {
		t.Errorf("stale rows or an error:\n%s", screen)
	}
	tmux(t, "send-keys", "-t", session, "3")
	// A RabbitMQ queue's row has no ON cell: its lag is the third field.
	waitScreen(t, session, 20*time.Second, "billing lagging by 3 on ORDERS and queue orders by 5", func(s string) bool {
		return cell(s, 3, "js", "billing", "ORDERS") == "3" && cell(s, 2, "rmq", "orders") == "5"
	})
	// RabbitMQ's dead letters are not read for their reasons (a read marks
	// them redelivered); the JetStream DLQ stream's are (no headers: unknown).
	tmux(t, "send-keys", "-t", session, "4")
	waitScreen(t, session, 20*time.Second, "orders.dlq not read and ORDERS_DLQ sampled", func(s string) bool {
		return strings.Contains(paneLine(s, "orders.dlq"), "(not read)") && strings.Contains(paneLine(s, "ORDERS_DLQ"), "(unknown)")
	})
	// Messages published while top runs show as ORDERS' in rate.
	stop := make(chan struct{})
	published := make(chan struct{})
	go func() {
		defer close(published)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				e.js.Publish(context.Background(), "orders.eu", []byte("more"))
			}
		}
	}()
	tmux(t, "send-keys", "-t", session, "2")
	waitScreen(t, session, 20*time.Second, "an in rate on ORDERS", func(s string) bool {
		in := cell(s, 4, "js", "ORDERS")
		return in != "" && in != "-" && in != "0.0"
	})
	close(stop)
	<-published
	tmux(t, "send-keys", "-t", session, "q")
	waitPane(t, session, "EXIT=0")
	m, ok, err := ch.Get("orders.dlq", false)
	if err != nil || !ok {
		t.Fatalf("get from orders.dlq: %v, %v", ok, err)
	}
	if m.Redelivered {
		t.Error("top left orders.dlq's dead letters marked redelivered")
	}
}

// With NO_COLOR top writes no SGR sequence (no colour, no bold or reverse
// video) at 80x24; resized to 60x20 it redraws to the new size, keeping its
// title, table header and the footer's ? help and q quit.
func TestTopNoColorAndResize(t *testing.T) {
	needTmux(t)
	k, cl := kafkaTopic(t, "orders", 1, nil)
	produceRecords(t, cl, "orders", 2)
	c := newCLI(t)
	if r := c.run("context", "add", "kafka", "--url", k.URL); r.code != 0 {
		t.Fatalf("context add: %+v", r)
	}
	session := topSession(t, c, 80, 24, "--interval", "300ms")
	tmux(t, "send-keys", "-t", session, "2")
	waitScreen(t, session, 20*time.Second, "orders at 2", func(s string) bool { return cell(s, 3, "kafka", "orders") == "2" })
	// -e keeps the cells' attributes as SGR sequences.
	if screen := tmux(t, "capture-pane", "-p", "-e", "-t", session); strings.Contains(screen, "\x1b[") {
		t.Errorf("SGR sequences on screen with NO_COLOR: %q", screen)
	}
	for _, size := range [][2]int{{60, 20}, {100, 30}} {
		tmux(t, "resize-window", "-t", session, "-x", strconv.Itoa(size[0]), "-y", strconv.Itoa(size[1]))
		what := fmt.Sprintf("the destinations view redrawn at %dx%d", size[0], size[1])
		screen := waitScreen(t, session, 20*time.Second, what, func(s string) bool {
			ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
			return len(ls) == size[1] && strings.HasPrefix(ls[0], "mqctl top · destinations") &&
				strings.Contains(ls[1], "CONTEXT") && strings.HasSuffix(ls[len(ls)-1], "? help  q quit") &&
				cell(s, 3, "kafka", "orders") == "2"
		})
		if size[0] == 100 && !strings.Contains(screen, "s/S sort") {
			t.Errorf("at 100 columns the footer still leaves hints out:\n%s", screen)
		}
	}
	tmux(t, "send-keys", "-t", session, "q")
	waitPane(t, session, "EXIT=0")
}

// newSession runs tmux new-session ARGS. The tmux server exits with its
// last session (another test's cleanup), and a new session asked for
// meanwhile fails with "server exited unexpectedly": that is retried.
func newSession(t *testing.T, args ...string) {
	t.Helper()
	args = append([]string{"new-session"}, args...)
	for try := 0; ; try++ {
		out, err := exec.Command("tmux", args...).CombinedOutput()
		if err == nil {
			return
		}
		if try == 20 || !strings.Contains(string(out), "server exited unexpectedly") {
			t.Fatalf("tmux %v: %v: %s", args, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
