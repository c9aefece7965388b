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
	// The sub's own accounting of what the pub sent: one run, its two
	// producers, nothing missing below what arrived.
	if want := (bench.SubCounts{Runs: 1, Producers: 2, Delivered: n}); ss.Sub == nil || *ss.Sub != want || ss.Foreign != 0 {
		t.Fatalf("sub accounting %+v, foreign %d; want %+v", ss.Sub, ss.Foreign, want)
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

// TestBenchSubGapsExitZero: a stream that keeps only its last 500
// messages drops the first 1500 of what bench pub (another process)
// confirmed; bench sub, reading afterwards, reports them as gaps below
// the sequences it received, says in one line that gaps are not proof of
// loss, and exits 0: it cannot know what pub confirmed.
func TestBenchSubGapsExitZero(t *testing.T) {
	srv, js := natsJetStream(t)
	c := newCLI(t)
	c.env = []string{"MQCTL_URL=" + srv.URL}
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "gaps", Subjects: []string{"gaps"}, MaxMsgs: 500}); err != nil {
		t.Fatal(err)
	}
	pub := c.run("bench", "pub", "gaps", "--yes", "--count", "2000", "-o", "json")
	if pub.code != 0 {
		t.Fatalf("pub exit %d: %s", pub.code, pub.stderr)
	}
	sub := c.run("bench", "sub", "gaps", "--yes", "--count", "500", "-o", "json")
	var ss bench.Summary
	if err := json.Unmarshal([]byte(sub.stdout), &ss); err != nil {
		t.Fatalf("sub exit %d, stdout: %v: %q (%s)", sub.code, err, sub.stdout, sub.stderr)
	}
	if want := (bench.SubCounts{Runs: 1, Producers: 1, Gaps: 1500, Delivered: 500}); sub.code != 0 || ss.Sub == nil || *ss.Sub != want || ss.Received != 500 || ss.Lost != 0 {
		t.Fatalf("sub exit %d, received %d, lost %d, %+v; want 0, 500, 0, %+v (stderr %q)", sub.code, ss.Received, ss.Lost, ss.Sub, want, sub.stderr)
	}
	if !strings.Contains(sub.stderr, "1500 sequence numbers were never received") || !strings.Contains(sub.stderr, "not proof of loss") {
		t.Errorf("stderr %q: want the gaps line", sub.stderr)
	}
}
