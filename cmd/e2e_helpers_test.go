package cmd_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// mqctlBin is the binary under test: $MQCTL_BIN (make test builds it) or
// one built for this test run.
var mqctlBin string

func TestMain(m *testing.M) {
	mqctlBin = os.Getenv("MQCTL_BIN")
	if mqctlBin != "" {
		testenv.Main(m)
	}
	dir, err := os.MkdirTemp("", "mqctl-e2e-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// os.Exit skips deferred calls, so the directory is removed by hand on
	// every way out.
	exit := func(code int) {
		os.RemoveAll(dir)
		os.Exit(code)
	}
	mqctlBin = filepath.Join(dir, "mqctl")
	for out, pkg := range map[string]string{mqctlBin: "..", mqctlBin + "-sandbox": "./mqctl-sandbox"} {
		build := exec.Command("go", "build", "-o", out, pkg)
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", pkg, err)
			exit(1)
		}
	}
	exit(testenv.Run(m))
}

// result is one finished run of the binary.
type result struct {
	stdout, stderr string
	code           int
	elapsed        time.Duration
}

// cli runs mqctl with a private config file.
type cli struct {
	t      *testing.T
	config string
	env    []string
}

func newCLI(t *testing.T) *cli {
	return &cli{t: t, config: filepath.Join(t.TempDir(), "config.yaml")}
}

func (c *cli) run(args ...string) result {
	c.t.Helper()
	return c.runIn(nil, args...)
}

// command is mqctl ARGS with c's config and environment, for tests that
// start it themselves (to signal or kill it); ctx ending kills it.
func (c *cli) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, mqctlBin, args...)
	cmd.Env = append(cleanEnv(), "MQCTL_CONFIG="+c.config, "NO_COLOR=1")
	cmd.Env = append(cmd.Env, c.env...)
	return cmd
}

func (c *cli) runIn(stdin []byte, args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := c.command(ctx, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), elapsed: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		c.t.Fatalf("run mqctl %v: %v", args, err)
	}
	if ctx.Err() != nil {
		c.t.Fatalf("mqctl %v hung for 60s; stderr: %s", args, r.stderr)
	}
	return r
}

// cleanEnv is the environment without any MQCTL_ variable of the caller.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MQCTL_") {
			env = append(env, kv)
		}
	}
	return env
}

// expectError checks the exit code and that stderr is exactly one line
// without a stack trace and without any of the secrets.
func expectError(t *testing.T, r result, code int, mention string, secrets ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d; stderr: %q", r.code, code, r.stderr)
	}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "mqctl: ") {
		t.Fatalf("want one 'mqctl: ...' line on stderr, got %q", r.stderr)
	}
	if !strings.Contains(r.stderr, mention) {
		t.Errorf("stderr %q does not mention %q", r.stderr, mention)
	}
	for _, bad := range append([]string{"goroutine ", "panic"}, secrets...) {
		if strings.Contains(r.stdout+r.stderr, bad) {
			t.Errorf("output contains %q: stdout %q stderr %q", bad, r.stdout, r.stderr)
		}
	}
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	return testenv.ClosedPort(t)
}

// natsJetStream starts a nats-server for t and connects to it; the
// connection closes with t.
func natsJetStream(t *testing.T) (*sandbox.NATS, jetstream.JetStream) {
	t.Helper()
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	nc, err := nats.Connect(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return srv, js
}

// natsStream starts a nats-server for t with stream name capturing
// subjects and n messages published to subject; the connection closes with t.
func natsStream(t *testing.T, name string, subjects []string, subject string, n int) (*sandbox.NATS, jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	srv, js := natsJetStream(t)
	ctx := context.Background()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: subjects, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		if _, err := js.Publish(ctx, subject, []byte("m")); err != nil {
			t.Fatal(err)
		}
	}
	return srv, js, stream
}
