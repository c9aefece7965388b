package cmd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqctl/mqctl/internal/bench"
)

// startBenchSub starts `mqctl bench sub` on stream name and returns once
// its consumer is on the stream, so that the pub that follows is read by
// a sub that was there first.
func startBenchSub(t *testing.T, c *cli, js jetstream.JetStream, name string, args ...string) (wait func() (code int, stdout, stderr string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	cmd := c.command(ctx, append([]string{"bench", "sub", name, "--yes", "-o", "json"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() {
		var exit *exec.ExitError
		code := 0
		if err := cmd.Wait(); errors.As(err, &exit) {
			code = exit.ExitCode()
		}
		done <- code
	}()
	stream, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	for {
		info, err := stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Consumers > 0 {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("bench sub exited %d before reading: %s", code, errb.String())
		case <-ctx.Done():
			t.Fatal("bench sub never opened its consumer")
		case <-time.After(50 * time.Millisecond):
		}
	}
	return func() (int, string, string) {
		select {
		case code := <-done:
			return code, out.String(), errb.String()
		case <-ctx.Done():
			t.Fatalf("bench sub did not finish: %s", errb.String())
			return 0, "", ""
		}
	}
}

// TestBenchCrossHostProcesses: bench sub --e2e-cross-host in one process,
// started first, measures the end-to-end latency of what bench pub
// --e2e-cross-host sends from another, on the wall clock: every message
// is in the histogram, and every value lies between the pub's start and
// the sub's end. Without the flag, sub says in one line that it measured
// no end-to-end latency.
func TestBenchCrossHostProcesses(t *testing.T) {
	const n = 3000
	srv, js := natsJetStream(t)
	c := newCLI(t)
	c.env = []string{"MQCTL_URL=" + srv.URL}
	for _, name := range []string{"xh", "xh-noflag"} {
		if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: name, Subjects: []string{name}}); err != nil {
			t.Fatal(err)
		}
	}

	wait := startBenchSub(t, c, js, "xh", "--count", "3000", "--e2e-cross-host")
	before := time.Now()
	pub := c.run("bench", "pub", "xh", "--yes", "--e2e-cross-host", "--count", "3000", "--rate", "3000", "--producers", "2", "--size", "128", "-o", "json")
	code, out, stderr := wait()
	bound := time.Since(before)
	if pub.code != 0 || code != 0 {
		t.Fatalf("pub exit %d (%s), sub exit %d (%s)", pub.code, pub.stderr, code, stderr)
	}
	var ps, ss bench.Summary
	if err := json.Unmarshal([]byte(pub.stdout), &ps); err != nil {
		t.Fatalf("pub stdout: %v: %q", err, pub.stdout)
	}
	if err := json.Unmarshal([]byte(out), &ss); err != nil {
		t.Fatalf("sub stdout: %v: %q", err, out)
	}
	if ps.E2EClock != bench.ClockWall || !ps.Workload.CrossHost || ps.Confirmed != n {
		t.Errorf("pub: clock %q, cross-host %v, confirmed %d", ps.E2EClock, ps.Workload.CrossHost, ps.Confirmed)
	}
	if ss.E2EClock != bench.ClockWall || ss.Received != n || ss.Duplicated != 0 || ss.E2ENegative != 0 || ss.E2EUnstamped != 0 || ss.E2ENotMeasured != "" || stderr != "" {
		t.Fatalf("sub summary %+v, stderr %q", ss, stderr)
	}
	var row *bench.Latency
	for i, l := range ss.Latency {
		if l.Name == bench.E2EWallName {
			row = &ss.Latency[i]
		}
	}
	if row == nil || row.Count != n {
		t.Fatalf("sub latencies %+v; want %q with %d values", ss.Latency, bench.E2EWallName, n)
	}
	t.Logf("%s: %d values, p50 %d µs, p99 %d µs, max %d µs (bound %s)", row.Name, row.Count, row.P50, row.P99, row.Max, bound)
	// Sent after before, received before the sub exited; 1% for the
	// histogram's 3 significant digits.
	if row.P50 < 1 || row.P50 > row.Max || time.Duration(row.Max)*time.Microsecond > bound+bound/100 {
		t.Errorf("end-to-end p50 %d µs, max %d µs; want within (0, %s]", row.P50, row.Max, bound)
	}

	wait = startBenchSub(t, c, js, "xh-noflag", "--count", "100")
	pub = c.run("bench", "pub", "xh-noflag", "--yes", "--e2e-cross-host", "--count", "100")
	code, out, stderr = wait()
	if pub.code != 0 || code != 0 {
		t.Fatalf("pub exit %d (%s), sub exit %d (%s)", pub.code, pub.stderr, code, stderr)
	}
	if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "end-to-end latency not measured") || !strings.Contains(stderr, "--e2e-cross-host") {
		t.Errorf("sub without the flag: stderr %q, want one line saying end-to-end latency was not measured", stderr)
	}
	if err := json.Unmarshal([]byte(out), &ss); err != nil || len(ss.Latency) != 0 || ss.E2ENotMeasured == "" {
		t.Errorf("sub without the flag: %v, summary %+v", err, ss)
	}
}
