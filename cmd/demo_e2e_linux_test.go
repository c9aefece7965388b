package cmd_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/mqctl/mqctl/internal/testenv"
)

// Item 23 (issue 11): `make demo` (scripts/demo.sh) leaves nothing behind,
// whichever way it ends: no file in TMPDIR and no broker process, the
// RabbitMQ node's beam included. Each case runs the script on a terminal
// (a pty, as `make demo` in a terminal does) and ends it at one moment.
// Item 22: the script shows what the sandbox waits for while it starts.
func TestDemoCleansUpOnEveryExit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the demo five times")
	}
	testenv.NeedRabbitMQServer(t)
	tests := []struct {
		name string
		// at is what the script shows when the case ends it.
		at   string
		end  func(t *testing.T, d *demoRun)
		exit int
	}{
		{
			name: "Ctrl-C during start-up", at: "sandbox: waiting for rabbitmq node",
			end: func(t *testing.T, d *demoRun) { d.typeKeys(t, "\x03") }, exit: 130,
		},
		{
			name: "the sandbox failing", at: "sandbox: waiting for rabbitmq node",
			end: func(t *testing.T, d *demoRun) { d.killNode(t) }, exit: 1,
		},
		{
			name: "Ctrl-C in the live view", at: topShown,
			end: func(t *testing.T, d *demoRun) { d.typeKeys(t, "\x03") }, exit: 130,
		},
		{
			// The demo ends in top: q quits it, the terminal leaves the
			// alternate screen, and the demo stops the sandbox with 0.
			name: "q in top", at: topShown,
			end: func(t *testing.T, d *demoRun) {
				d.typeKeys(t, "q")
				d.waitFor(t, "demo: stopping the sandbox")
				out := d.out.String()
				if strings.LastIndex(out, altScreenOff) < strings.LastIndex(out, altScreenOn) {
					t.Errorf("top did not leave the alternate screen:\n%q", out[max(0, len(out)-400):])
				}
			},
			exit: 0,
		},
		{
			// The terminal goes away: its session leader (here the script)
			// gets SIGHUP from the kernel, and a login shell sends SIGHUP to
			// its jobs' process groups, as the test does next.
			name: "terminal closed", at: topShown,
			end: func(t *testing.T, d *demoRun) {
				d.pty.Close()
				syscall.Kill(-d.cmd.Process.Pid, syscall.SIGHUP)
			},
			exit: 129,
		},
		{
			name: "SIGTERM", at: topShown,
			end: func(t *testing.T, d *demoRun) { d.cmd.Process.Signal(syscall.SIGTERM) }, exit: 143,
		},
	}
	// A run started under nohup (or by anything that ignores SIGHUP) passes
	// the ignored SIGHUP on to the script, which then cannot trap it: the
	// terminal-closed case would test nohup, not a terminal. A handler in
	// this process makes exec give the children the default disposition.
	// (A cleanup, not a defer: the parallel cases run after this function
	// returns.)
	if signal.Ignored(syscall.SIGHUP) {
		signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP)
		t.Cleanup(func() { signal.Reset(syscall.SIGHUP) })
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each demo on free ports, with its own TMPDIR and mark
			d := startDemo(t, true)
			d.waitFor(t, tt.at)
			tt.end(t, d)
			code := d.wait(t)
			if code != tt.exit {
				t.Errorf("demo exit %d, want %d; output:\n%s", code, tt.exit, d.out)
			}
			d.expectNoProcesses(t)
			expectEmptyDir(t, d.tmp)
		})
	}
}

// What the pty shows once the demo's top drew its first frame: the
// alternate screen, then its overview. (The title's words may be drawn
// apart by cursor moves; "overview" is one run of cells.)
const (
	altScreenOn  = "\x1b[?1049h"
	altScreenOff = "\x1b[?1049l"
	topShown     = "overview"
)

// Without a terminal (CI, a pipe) the demo does not start top: it prints
// each sandbox context's destinations and dead letters, exits 0, and
// leaves nothing behind.
func TestDemoWithoutTerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the demo")
	}
	testenv.NeedRabbitMQServer(t)
	t.Parallel()
	d := startDemo(t, false)
	code := d.wait(t)
	out := d.out.String()
	if code != 0 {
		t.Errorf("demo exit %d, want 0; output:\n%s", code, out)
	}
	for _, want := range []string{"== mqctl -c sandbox-kafka ls", "== mqctl -c sandbox-nats dlq ls", "== mqctl -c sandbox-rabbitmq dlq ls", "orders.dlq"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, altScreenOn) || strings.Contains(out, "mqctl top") || strings.Contains(out, "Next:") {
		t.Errorf("top started without a terminal:\n%q", out)
	}
	d.expectNoProcesses(t)
	expectEmptyDir(t, d.tmp)
}

// demoRun is scripts/demo.sh running on a pty (or on pipes), with its own TMPDIR and a
// mark in the environment every process it starts inherits.
type demoRun struct {
	cmd     *exec.Cmd
	pty     *os.File
	tmp     string
	mark    string
	out     *lockedBuffer
	changed chan struct{}
	done    chan struct{}
	state   *os.ProcessState
}

var demoSeq atomic.Int64

func startDemo(t *testing.T, tty bool) *demoRun {
	t.Helper()
	script, err := filepath.Abs("../scripts/demo.sh")
	if err != nil {
		t.Fatal(err)
	}
	bin, err := filepath.Abs(mqctlBin)
	if err != nil {
		t.Fatal(err)
	}
	d := &demoRun{
		tmp:     sandboxTempDir(t),
		mark:    fmt.Sprintf("MQCTL_DEMO_TEST_RUN=%d-%d", os.Getpid(), demoSeq.Add(1)),
		out:     &lockedBuffer{},
		changed: make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	var master, slave *os.File
	if tty {
		master, slave = openPTY(t)
	} else {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		master, slave = r, w
	}
	d.pty = master
	d.cmd = exec.Command("bash", script)
	d.cmd.Env = append(cleanEnv(), "MQCTL_BIN="+bin, "MQCTL_CONFIG="+filepath.Join(t.TempDir(), "config.yaml"),
		"TMPDIR="+d.tmp, "TERM=xterm", "NO_COLOR=1", "MQCTL_DEMO_PORTS=free", d.mark)
	d.cmd.Stdin, d.cmd.Stdout, d.cmd.Stderr = slave, slave, slave
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if !tty {
		d.cmd.Stdin = nil // /dev/null
		d.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			if n > 0 {
				d.out.write(string(buf[:n]))
				select {
				case d.changed <- struct{}{}:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		d.cmd.Wait()
		d.state = d.cmd.ProcessState
		close(d.done)
	}()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			d.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-d.done:
			case <-time.After(60 * time.Second):
			}
		}
		master.Close()
		// Whatever a failed case left running, by the mark: only ours.
		for _, p := range d.processes() {
			syscall.Kill(p.pid, syscall.SIGKILL)
		}
	})
	return d
}

// waitFor waits until the terminal shows s.
func (d *demoRun) waitFor(t *testing.T, s string) {
	t.Helper()
	timeout := time.After(3 * time.Minute)
	for !strings.Contains(d.out.String(), s) {
		select {
		case <-d.changed:
		case <-d.done:
			if !strings.Contains(d.out.String(), s) {
				t.Fatalf("demo exited (%v) before it showed %q:\n%s", d.state, s, d.out)
			}
		case <-timeout:
			t.Fatalf("demo did not show %q in 3 minutes:\n%s", s, d.out)
		}
	}
}

// typeKeys types on the demo's terminal (Ctrl-C is "\x03").
func (d *demoRun) typeKeys(t *testing.T, keys string) {
	t.Helper()
	if _, err := d.pty.Write([]byte(keys)); err != nil {
		t.Fatal(err)
	}
}

// killNode kills the beam VM of the demo's RabbitMQ node, found by the
// node name the demo showed and by this run's mark.
func (d *demoRun) killNode(t *testing.T) {
	t.Helper()
	m := regexp.MustCompile(`waiting for rabbitmq node (\S+)`).FindStringSubmatch(d.out.String())
	if m == nil {
		t.Fatalf("no node name shown:\n%s", d.out)
	}
	for {
		for _, p := range d.processes() {
			if strings.Contains(p.cmdline, "beam") && strings.Contains(p.cmdline, m[1]) {
				if err := syscall.Kill(p.pid, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				return
			}
		}
		select {
		case <-d.done:
			t.Fatalf("demo exited before its node's beam was seen:\n%s", d.out)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// wait waits for the script to exit and returns its exit code (128+n for
// death by signal n).
func (d *demoRun) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-d.done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("demo still running 2 minutes after it was ended:\n%s", d.out)
	}
	ws := d.state.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// expectNoProcesses waits until no process carries the run's mark, and
// fails when some still do after a minute. epmd is left out: the Erlang
// port mapper is the machine's, shared by every node, and outlives the
// node that happened to start it by design.
func (d *demoRun) expectNoProcesses(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		left := d.processes()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, p := range left {
				fmt.Fprintf(&b, "%d %s\n", p.pid, p.cmdline)
			}
			t.Fatalf("processes of the demo still running a minute after it exited:\n%s", &b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type markedProcess struct {
	pid     int
	cmdline string
}

// processes are the live processes whose environment holds the run's mark.
func (d *demoRun) processes() []markedProcess {
	var out []markedProcess
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		pid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join(dir, "environ"))
		if err != nil || !bytes.Contains(append([]byte{0}, env...), []byte("\x00"+d.mark+"\x00")) {
			continue
		}
		if comm, _ := os.ReadFile(filepath.Join(dir, "comm")); strings.TrimSpace(string(comm)) == "epmd" {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
		out = append(out, markedProcess{pid: pid, cmdline: string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))})
	}
	return out
}

// openPTY opens a pseudo-terminal of 200x50. The master stays in Go's
// poller, so closing it ends a blocked Read.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	var n uint32
	err = control(master, func(fd uintptr) error {
		unlock := int32(0)
		if err := ioctl(fd, syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)); err != nil {
			return err
		}
		return ioctl(fd, syscall.TIOCGPTN, unsafe.Pointer(&n))
	})
	if err != nil {
		master.Close()
		t.Fatalf("pty: %v", err)
	}
	slave, err = os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		t.Fatalf("pty: %v", err)
	}
	size := struct{ rows, cols, x, y uint16 }{50, 200, 0, 0}
	if err := control(slave, func(fd uintptr) error { return ioctl(fd, syscall.TIOCSWINSZ, unsafe.Pointer(&size)) }); err != nil {
		t.Fatalf("pty size: %v", err)
	}
	return master, slave
}

func control(f *os.File, fn func(fd uintptr) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var inner error
	if err := rc.Control(func(fd uintptr) { inner = fn(fd) }); err != nil {
		return err
	}
	return inner
}

func ioctl(fd, req uintptr, arg unsafe.Pointer) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(arg)); errno != 0 {
		return errno
	}
	return nil
}

// `make demo` on a terminal as a person runs it, in tmux: the demo ends in
// top across the sandbox brokers (the overview names the three contexts),
// q quits it, the demo stops the sandbox and exits 0, and the terminal is
// back: alternate screen left, cursor shown, cooked mode with echo.
func TestDemoEndsInTopInTmux(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the demo")
	}
	needTmux(t)
	t.Parallel()
	script, err := filepath.Abs("../scripts/demo.sh")
	if err != nil {
		t.Fatal(err)
	}
	bin, err := filepath.Abs(mqctlBin)
	if err != nil {
		t.Fatal(err)
	}
	session := testenv.UniqueName(t, "demotop")
	tmp := sandboxTempDir(t)
	sh := fmt.Sprintf("stty sane; env -u MQCTL_CONFIG MQCTL_BIN=%s MQCTL_CONFIG=%s TMPDIR=%s NO_COLOR=1 MQCTL_DEMO_PORTS=free bash %s; echo EXIT=$?; echo STTY=$(stty -a | tr ' ' '\\n' | grep -xE -- '-?(icanon|echo)'); sleep 120",
		bin, filepath.Join(t.TempDir(), "config.yaml"), tmp, script)
	newSession(t, "-d", "-s", session, "-x", "160", "-y", "40", sh)
	t.Cleanup(func() { exec.Command("tmux", "kill-session", "-t", session).Run() })

	screen := waitScreen(t, session, 3*time.Minute, "top's overview", func(s string) bool {
		return strings.Contains(s, "mqctl top · overview") && strings.Contains(s, "sandbox-kafka") && strings.Contains(s, "sandbox-nats")
	})
	if alt, _ := paneModes(t, session); !alt {
		t.Errorf("top is not on the alternate screen:\n%s", screen)
	}
	tmux(t, "send-keys", "-t", session, "q")
	screen = waitScreen(t, session, 2*time.Minute, "the demo's end", func(s string) bool { return strings.Contains(s, "STTY=") })
	if !strings.Contains(screen, "EXIT=0") || !strings.Contains(screen, "STTY=icanon echo") {
		t.Errorf("after q: want EXIT=0 and cooked mode with echo:\n%s", screen)
	}
	if alt, cursor := paneModes(t, session); alt || !cursor {
		t.Errorf("after q: alternate screen %v, cursor visible %v; want false, true", alt, cursor)
	}
	expectEmptyDir(t, tmp)
}
