package cmd_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/sandbox"
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
	args = append([]string{"sandbox", "--kafka-port", "0", "--nats-port", "0", "--amqp-port", "0", "--amqp-api-port", "0"}, args...)
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
	if !sandbox.RabbitMQAvailable() && os.Getenv("CI") != "true" {
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
