package cmd

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mqctl/mqctl/internal/testenv"
)

// TestBenchBadInput: each bad flag is one line naming it, exit 2, before
// connecting (the URL points where nothing listens, so connecting would
// fail differently), on a terminal as in a pipe.
func TestBenchBadInput(t *testing.T) {
	small := filepath.Join(t.TempDir(), "small")
	if err := os.WriteFile(small, []byte("tiny"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"MQCTL_URL": fmt.Sprintf("nats://127.0.0.1:%d", testenv.ClosedPort(t))}
	for _, c := range []struct {
		args    []string
		mention string
	}{
		{[]string{"--size", "0"}, "--size 0"},
		{[]string{"--size", "31"}, "--size 31"},
		{[]string{"--size", "-5"}, "--size -5"},
		{[]string{"--rate", "0"}, "--rate 0"},
		{[]string{"--rate", "-1"}, "--rate -1"},
		{[]string{"--count", "0"}, "--count 0"},
		{[]string{"--count", "-3"}, "--count -3"},
		{[]string{"--count", "5", "--duration", "1s"}, "--count and --duration"},
		{[]string{"--duration", "0s"}, "--duration 0s"},
		{[]string{"--producers", "0"}, "--producers 0"},
		{[]string{"--in-flight", "0"}, "--in-flight 0"},
		{[]string{"--payload-file", small}, "--payload-file"},
		{[]string{"--dest", "orders"}, "--yes"},
		{[]string{"e2e", "orders"}, "--yes"},
		{[]string{"sub"}, "bench sub"},
		{[]string{"pub", "a", "b"}, "at most 2"},
		{[]string{"--rate", "fast"}, "--rate fast"},
		{[]string{"--rate", "max"}, "--p99-under"},
		{[]string{"--p99-under", "50ms"}, "--p99-under"},
		{[]string{"--rate", "max", "--p99-under", "0s"}, "--p99-under 0s"},
		{[]string{"--rate", "max", "--p99-under", "5ms", "--count", "9"}, "--count"},
		{[]string{"--rate", "max", "--p99-under", "5ms", "--compare", "a,b"}, "give one of them"},
		{[]string{"--compare", "a"}, "two or more"},
		{[]string{"--compare", "a,,b"}, "empty context"},
		{[]string{"--compare", "a,b", "--csv", "x.csv"}, "--csv"},
		{[]string{"--worker", "--count", "5", "--acks", "1"}, "--acks, --count to bench --workers N"},
		{[]string{"--worker", "e2e"}, "takes no arguments"},
		{[]string{"--worker", "--workers", "2"}, "--workers"},
		{[]string{"--worker", "--join-timeout", "0s"}, "--join-timeout 0s"},
		{[]string{"--workers", "0"}, "--workers 0"},
		{[]string{"--workers", "3", "--count", "2"}, "one message per worker"},
		{[]string{"--workers", "2", "sub", "q", "--yes"}, "bench sub"},
		{[]string{"--workers", "2", "--dest", "q", "--yes"}, "--dest"},
		{[]string{"--workers", "2", "--csv", "x.csv"}, "--csv"},
		{[]string{"--workers", "2", "--join-timeout", "-1s"}, "--join-timeout -1s"},
		{[]string{"--join-timeout", "5s"}, "--workers and --worker only"},
		{[]string{"--batch", "0"}, "--batch 0"},
		{[]string{"--batch", "500", "--in-flight", "100"}, "--batch 500"},
		{[]string{"--multi-ack", "0"}, "--multi-ack 0"},
		{[]string{"--multi-ack", "20", "--prefetch", "10"}, "--multi-ack 20"},
		{[]string{"--linger", "-1s"}, "--linger -1s"},
		{[]string{"--partitions", "0"}, "--partitions 0"},
		{[]string{"--partitions", "-2"}, "--partitions -2"},
		{[]string{"--replicas", "0"}, "--replicas 0"},
		{[]string{"--replicas", "-1"}, "--replicas -1"},
		{[]string{"--prefetch", "-1"}, "--prefetch -1"},
		{[]string{"sub", "q", "--yes", "--rate", "100"}, "--rate: bench sub only reads"},
		{[]string{"sub", "q", "--yes", "--producers", "2"}, "--producers: bench sub"},
		{[]string{"sub", "q", "--yes", "--size", "100"}, "--size: bench sub"},
		{[]string{"pub", "--consumers", "4"}, "--consumers: bench pub only publishes"},
		{[]string{"pub", "--prefetch", "10"}, "--prefetch: bench pub"},
		{[]string{"pub", "--e2e-cross-host"}, "--e2e-cross-host: bench pub would send to a destination it creates"},
		{[]string{"--e2e-cross-host", "--compare", "a,b"}, "--e2e-cross-host"},
		{[]string{"--e2e-cross-host", "--rate", "max", "--p99-under", "5ms"}, "--e2e-cross-host"},
		{[]string{"--e2e-cross-host", "--workers", "2"}, "--e2e-cross-host"},
		{[]string{"--worker", "--e2e-cross-host"}, "--e2e-cross-host: --rate max, --compare, --workers and --worker"},
	} {
		for name, r := range ttyAndPipe(t, env, append([]string{"bench"}, c.args...)...) {
			if r.code != 2 || r.stdout != "" || !oneLine(r.stderr, c.mention) {
				t.Errorf("%s %v: exit %d, stderr %q; want exit 2 and one line naming %q", name, c.args, r.code, r.stderr, c.mention)
			}
		}
	}
}

func TestNewCmdBenchOptions(t *testing.T) {
	f := newTestFactory(t)
	var got *BenchOptions
	cmd := NewCmdBench(f, func(o *BenchOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"pub", "orders", "--yes", "--rate", "500", "--producers", "3", "--size", "64"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	w := got.Workload
	if w.Mode != "pub" || got.Dest != "orders" || w.Rate != 500 || w.Producers != 3 || w.Size != 64 || w.Duration.Seconds() != 10 || w.Count != 0 {
		t.Errorf("options %+v workload %+v", got, w)
	}
}

// TestBenchCompressionDefault: bench sends uncompressed by default (produce
// compresses with snappy), and its help says why in the flag's own line.
func TestBenchCompressionDefault(t *testing.T) {
	f := newTestFactory(t)
	var got *BenchOptions
	cmd := NewCmdBench(f, func(o *BenchOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--count", "10"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Knobs.Compression != "none" {
		t.Errorf("default compression %q, want none", got.Knobs.Compression)
	}
	r := runInProcess(t, false, nil, "bench", "--help")
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.Contains(line, "--compression") {
			for _, w := range []string{"zeros after its header", "snappy to match produce", "--payload-file", `(default "none")`} {
				if !strings.Contains(line, w) {
					t.Errorf("--compression help %q does not say %q", line, w)
				}
			}
			return
		}
	}
	t.Errorf("bench --help has no --compression line:\n%s", r.stdout)
}
