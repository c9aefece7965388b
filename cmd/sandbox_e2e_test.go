package cmd_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/config"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// sandboxProc is a running `mqctl sandbox`.
type sandboxProc struct {
	cmd    *exec.Cmd
	lines  map[string]string // broker -> printed line
	stderr *lockedBuffer
	done   chan error
}

// startSandbox runs `mqctl sandbox ARGS` with free ports and waits for
// "sandbox: ready" on stderr.
func startSandbox(t *testing.T, c *cli, args ...string) *sandboxProc {
	t.Helper()
	return startSandboxArgs(t, c, append([]string{"sandbox", "--kafka-port", "0", "--nats-port", "0", "--amqp-port", "0", "--amqp-api-port", "0"}, args...)...)
}

// startSandboxArgs runs `mqctl ARGS` and waits for "sandbox: ready".
func startSandboxArgs(t *testing.T, c *cli, args ...string) *sandboxProc {
	t.Helper()
	cmd := c.command(context.Background(), args...)
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &sandboxProc{cmd: cmd, lines: map[string]string{}, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	ready := make(chan struct{})
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.stderr.write(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "sandbox: ready") {
				close(ready)
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(40 * time.Second):
				cmd.Process.Kill()
			}
		}
	})
	select {
	case <-ready:
	case err := <-p.done:
		t.Fatalf("sandbox exited early (%v): %s", err, p.stderr)
	case <-time.After(90 * time.Second):
		t.Fatalf("sandbox not ready after 90s: %s", p.stderr)
	}
	// The broker lines precede "ready"; collect them until stdout goes quiet.
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return p
			}
			name, _, _ := strings.Cut(l, " ")
			p.lines[name] = l
		case <-time.After(time.Second):
			return p
		}
	}
}

// lockedBuffer collects a child's stderr while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) write(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(s)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// stop sends SIGTERM and expects a clean exit 0.
func (p *sandboxProc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("sandbox exit after SIGTERM: %v\n%s", err, p.stderr)
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("sandbox did not stop within 40s of SIGTERM")
	}
}

func lsJSON(t *testing.T, c *cli, ctxName string) []broker.Destination {
	t.Helper()
	r := c.run("-c", ctxName, "ls", "-o", "json")
	if r.code != 0 {
		t.Fatalf("ls -c %s: exit %d: %s", ctxName, r.code, r.stderr)
	}
	var ds []broker.Destination
	if err := json.Unmarshal([]byte(r.stdout), &ds); err != nil {
		t.Fatalf("ls -c %s -o json: %v: %s", ctxName, err, r.stdout)
	}
	return ds
}

func byName(ds []broker.Destination) map[string]broker.Destination {
	m := map[string]broker.Destination{}
	for _, d := range ds {
		m[d.Name] = d
	}
	return m
}

// The demo sandbox: three brokers, contexts registered, seeded data visible
// through `mqctl ls`, a clean stop that leaves no RabbitMQ behind.
func TestSandboxDemo(t *testing.T) {
	if !sandbox.RabbitMQAvailable() && !testenv.CI() {
		t.Skip("rabbitmq-server not installed (make test installs it; CI fails instead of skipping)")
	}
	c := newCLI(t)
	p := startSandbox(t, c, "--demo")
	for _, b := range []string{"kafka", "nats", "rabbitmq"} {
		if p.lines[b] == "" {
			t.Fatalf("no %q line on stdout: %v", b, p.lines)
		}
	}
	if strings.Contains(p.lines["rabbitmq"], "guest") {
		t.Errorf("the rabbitmq line shows credentials: %q", p.lines["rabbitmq"])
	}

	kafka := byName(lsJSON(t, c, "sandbox-kafka"))
	if d := kafka["orders"]; d.Partitions != 4 || d.Messages < 200 || d.Consumers != 2 {
		t.Errorf("kafka orders: %+v", d)
	}
	if d := kafka["orders.DLT"]; d.Messages != 12 {
		t.Errorf("kafka orders.DLT: %+v", d)
	}
	nats := byName(lsJSON(t, c, "sandbox-nats"))
	if d := nats["ORDERS"]; d.Messages < 100 || d.Consumers != 2 {
		t.Errorf("nats ORDERS: %+v", d)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		d := byName(lsJSON(t, c, "sandbox-rabbitmq"))["orders.dlq"]
		if d.Ready != nil && *d.Ready >= 8 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rabbitmq orders.dlq never showed 8 dead letters: %+v", d)
		}
		time.Sleep(time.Second)
	}
	if d := byName(lsJSON(t, c, "sandbox-nats"))["DEAD_LETTERS"]; d.Messages == 0 {
		t.Errorf("nats DEAD_LETTERS captured no advisory: %+v", d)
	}

	node := nodeOf(t, p.stderr.String())
	if node == "" {
		t.Fatalf("the sandbox did not log its rabbitmq node name: %s", p.stderr)
	}
	p.stop(t)
	if out, _ := exec.Command("pgrep", "-f", node).Output(); len(out) > 0 {
		t.Errorf("rabbitmq node %s still running after stop: pids %s", node, out)
	}
}

// nodeOf finds the RabbitMQ node name the sandbox logged, "" when none.
func nodeOf(t *testing.T, stderr string) string {
	for _, f := range strings.Fields(stderr) {
		if strings.HasPrefix(f, "mqsb") && strings.Contains(f, "@") {
			return strings.Trim(f, "(),")
		}
	}
	return ""
}

// --data-dir keeps Kafka topics and JetStream streams across a restart.
func TestSandboxDataDirSurvivesRestart(t *testing.T) {
	c := newCLI(t)
	dir := t.TempDir()
	p := startSandbox(t, c, "--no-rabbitmq", "--demo", "--data-dir", dir)
	before := byName(lsJSON(t, c, "sandbox-kafka"))["orders"].Messages
	p.stop(t)

	p = startSandbox(t, c, "--no-rabbitmq", "--data-dir", dir)
	defer p.stop(t)
	after := byName(lsJSON(t, c, "sandbox-kafka"))
	if after["orders"].Messages < before || after["orders.DLT"].Messages != 12 {
		t.Errorf("kafka after restart: orders %d (before %d), orders.DLT %d", after["orders"].Messages, before, after["orders.DLT"].Messages)
	}
	if byName(lsJSON(t, c, "sandbox-nats"))["ORDERS"].Messages < 100 {
		t.Errorf("nats ORDERS lost across restart")
	}
}

// sandboxTempDir is a TMPDIR for a sandbox under test, so that the test can
// check it holds nothing once the sandbox is gone. It is not under
// t.TempDir, whose parent the rabbitmq user (the node's, when we are
// root) cannot enter.
func sandboxTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "mqctl-sbtmp-*")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// expectEmptyDir fails t when dir holds anything.
func expectEmptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) > 0 {
		t.Errorf("left behind in TMPDIR %s: %v", dir, names)
	}
}

// portOf is the port of the first host:port in a printed URL.
func portOf(t *testing.T, url string) int {
	t.Helper()
	m := regexp.MustCompile(`://[^/:]+:(\d+)`).FindStringSubmatch(url)
	if m == nil {
		t.Fatalf("no port in %q", url)
	}
	port, _ := strconv.Atoi(m[1])
	return port
}

// Item 21 (issue 11): `mqctl sandbox --demo` with every default port
// taken falls back to free ports, prints the URLs it chose and writes the
// contexts with them. Item 22: while RabbitMQ boots it says what it waits
// for (the node, its ports, the time so far).
func TestSandboxFallsBackFromTakenDefaultPorts(t *testing.T) {
	withRabbit := sandbox.RabbitMQAvailable() || testenv.CI()
	defaults := map[string]int{"kafka": 9092, "nats": 4222, "amqp": 5672, "amqp-api": 15672}
	for name, port := range defaults {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Logf("%s's default port %d is already taken on this machine: %v", name, port, err)
			continue
		}
		t.Cleanup(func() { l.Close() })
	}
	c := newCLI(t)
	tmp := sandboxTempDir(t)
	c.env = append(c.env, "TMPDIR="+tmp)
	args := []string{"sandbox", "--demo"}
	if !withRabbit {
		t.Log("rabbitmq-server not installed: Kafka and NATS only")
		args = append(args, "--no-rabbitmq")
	}
	p := startSandboxArgs(t, c, args...)

	cfg, err := os.ReadFile(c.config)
	if err != nil {
		t.Fatal(err)
	}
	check := func(broker, url string, def int) {
		t.Helper()
		if got := portOf(t, url); got == def {
			t.Errorf("%s listens on the taken port %d: %q", broker, def, url)
		}
		if !strings.Contains(string(cfg), url) {
			t.Errorf("the contexts do not carry %s's URL %s:\n%s", broker, url, cfg)
		}
	}
	brokers := []string{"kafka", "nats"}
	if withRabbit {
		brokers = append(brokers, "rabbitmq")
	}
	for _, b := range brokers {
		f := strings.Fields(p.lines[b])
		if len(f) < 2 {
			t.Fatalf("no URL line for %s on stdout: %v", b, p.lines)
		}
		switch b {
		case "rabbitmq":
			check(b, f[1], defaults["amqp"])
			check(b+" management API", strings.TrimPrefix(f[2], "api="), defaults["amqp-api"])
		default:
			check(b, f[1], defaults[b])
		}
		if ds := lsJSON(t, c, "sandbox-"+b); len(ds) == 0 {
			t.Errorf("mqctl -c sandbox-%s ls: nothing listed", b)
		}
	}
	for _, port := range []int{9092, 4222} {
		if want := fmt.Sprintf("port %d is taken; using a free port", port); !strings.Contains(p.stderr.String(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, p.stderr)
		}
	}
	if withRabbit {
		amqp := portOf(t, strings.Fields(p.lines["rabbitmq"])[1])
		errText := p.stderr.String()
		waiting := regexp.MustCompile(`(?m)^sandbox: waiting for rabbitmq node mqsb\S+@localhost \(AMQP on 127\.0\.0\.1:` + strconv.Itoa(amqp) + `, management API on 127\.0\.0\.1:\d+\): \d+s`).FindStringIndex(errText)
		readyAfter := regexp.MustCompile(`(?m)^sandbox: rabbitmq ready after \d+s$`).FindStringIndex(errText)
		ready := strings.Index(errText, "sandbox: ready")
		if waiting == nil || readyAfter == nil || waiting[0] > readyAfter[0] || readyAfter[0] > ready {
			t.Errorf("stderr does not say, in order, what the start waits for (node, AMQP port %d, seconds), when RabbitMQ is ready, and that the sandbox is:\n%s", amqp, errText)
		}
	}
	p.stop(t)
	expectEmptyDir(t, tmp)
}

// Item 21: a port given with its flag must be free; taken, it is one clear
// line naming the broker, the port and the flag, and nothing is left in
// TMPDIR.
func TestSandboxRefusesTakenExplicitPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	tests := []struct {
		flag, what string
		rabbit     bool
	}{
		{flag: "--kafka-port", what: "Kafka"},
		{flag: "--nats-port", what: "NATS"},
		{flag: "--amqp-port", what: "RabbitMQ AMQP", rabbit: true},
		{flag: "--amqp-api-port", what: "RabbitMQ management API", rabbit: true},
	}
	for _, tt := range tests {
		t.Run(tt.flag, func(t *testing.T) {
			args := []string{"sandbox", "--no-contexts", "--kafka-port", "0", "--nats-port", "0", "--amqp-port", "0", "--amqp-api-port", "0", tt.flag, port}
			if tt.rabbit {
				testenv.NeedRabbitMQServer(t)
			} else {
				args = append(args, "--no-rabbitmq")
			}
			c := newCLI(t)
			tmp := sandboxTempDir(t)
			c.env = append(c.env, "TMPDIR="+tmp)
			r := c.run(args...)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			last := lines[len(lines)-1]
			want := fmt.Sprintf("mqctl: %s port %s is not free", tt.what, port)
			if !strings.HasPrefix(last, want) || !strings.Contains(last, tt.flag+" 0") {
				t.Errorf("last stderr line %q does not start with %q and name %s 0", last, want, tt.flag)
			}
			if n := strings.Count(r.stderr, "mqctl: "); n != 1 {
				t.Errorf("%d mqctl: lines, want 1:\n%s", n, r.stderr)
			}
			expectEmptyDir(t, tmp)
		})
	}
}

// Item 23 (issue 11): `mqctl sandbox` itself cleans up when the terminal
// closes (SIGHUP) and when a second signal follows the first (a user
// pressing Ctrl-C again, a script's SIGTERM after the terminal's SIGINT):
// no temporary directory and no RabbitMQ node left.
func TestSandboxCleansUpOnSignals(t *testing.T) {
	testenv.NeedRabbitMQServer(t)
	tests := []struct {
		name string
		end  func(t *testing.T, p *sandboxProc)
	}{
		{name: "SIGHUP", end: func(t *testing.T, p *sandboxProc) { p.cmd.Process.Signal(syscall.SIGHUP) }},
		{name: "SIGINT then SIGTERM", end: func(t *testing.T, p *sandboxProc) {
			p.cmd.Process.Signal(syscall.SIGINT)
			p.waitStderr(t, "sandbox: stopping")
			p.cmd.Process.Signal(syscall.SIGTERM)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each sandbox on free ports, with its own TMPDIR
			c := newCLI(t)
			tmp := sandboxTempDir(t)
			c.env = append(c.env, "TMPDIR="+tmp)
			p := startSandbox(t, c, "--no-kafka")
			node := nodeOf(t, p.stderr.String())
			if node == "" {
				t.Fatalf("the sandbox did not log its rabbitmq node name: %s", p.stderr)
			}
			tt.end(t, p)
			select {
			case err := <-p.done:
				if err != nil {
					t.Errorf("sandbox exit: %v\n%s", err, p.stderr)
				}
			case <-time.After(2 * time.Minute):
				t.Fatalf("sandbox still running 2 minutes after it was signalled:\n%s", p.stderr)
			}
			if out, _ := exec.Command("pgrep", "-f", regexp.QuoteMeta(node)).Output(); len(out) > 0 {
				t.Errorf("rabbitmq node %s still running after the sandbox exited: pids %s", node, out)
			}
			expectEmptyDir(t, tmp)
		})
	}
}

// waitStderr waits until the sandbox has written s to stderr.
func (p *sandboxProc) waitStderr(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(time.Minute)
	for !strings.Contains(p.stderr.String(), s) {
		select {
		case <-deadline:
			t.Fatalf("the sandbox did not say %q within a minute:\n%s", s, p.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// A clean stop removes the contexts the sandbox wrote, and only those
// still as it wrote them: the user's own, and a sandbox context changed
// since, stay.
func TestSandboxRemovesItsContextsOnStop(t *testing.T) {
	c := newCLI(t)
	if r := c.run("context", "add", "mine", "--url", "kafka://127.0.0.1:1", "--use"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	p := startSandbox(t, c, "--no-rabbitmq")
	if r := c.run("-c", "sandbox-kafka", "ls"); r.code != 0 {
		t.Fatalf("sandbox-kafka while running: %+v", r)
	}
	cfg, err := config.Load(c.config)
	if err != nil {
		t.Fatal(err)
	}
	nats, _ := cfg.Get("sandbox-nats")
	nats.URL = "nats://127.0.0.1:1"
	if err := cfg.Save(c.config); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("sandbox exit after SIGINT: %v\n%s", err, p.stderr)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("sandbox did not stop within 40s of SIGINT")
	}
	cfg, err = config.Load(c.config)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ctx := range cfg.Contexts {
		names = append(names, ctx.Name)
	}
	if strings.Join(names, ",") != "mine,sandbox-nats" || cfg.CurrentContext != "mine" {
		t.Errorf("contexts after the stop: %v, current %q", names, cfg.CurrentContext)
	}
	for _, want := range []string{"sandbox: contexts sandbox-kafka removed from ", "sandbox: contexts sandbox-nats kept: changed since the sandbox wrote them"} {
		if !strings.Contains(p.stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, p.stderr)
		}
	}
}
