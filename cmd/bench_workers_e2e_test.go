package cmd_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mqctl/mqctl/internal/bench"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// benchWorker is one `mqctl bench --worker` process.
type benchWorker struct {
	cmd    *exec.Cmd
	out    bytes.Buffer
	stderr bytes.Buffer
	done   chan struct{}
	code   int
}

func startBenchWorkers(t *testing.T, c *cli, n int) []*benchWorker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	var ws []*benchWorker
	for range n {
		w := &benchWorker{done: make(chan struct{})}
		w.cmd = c.command(ctx, "bench", "--worker", "--join-timeout", "60s", "-o", "json")
		w.cmd.Stdout, w.cmd.Stderr = &w.out, &w.stderr
		if err := w.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			defer close(w.done)
			var exit *exec.ExitError
			if err := w.cmd.Wait(); errors.As(err, &exit) {
				w.code = exit.ExitCode()
			}
		}()
		ws = append(ws, w)
	}
	t.Cleanup(func() {
		for _, w := range ws {
			_ = w.cmd.Process.Kill()
			<-w.done
		}
	})
	return ws
}

// checkWorkerRows: the total is the sum of the rows of the workers that
// finished, counts and histogram counts alike.
func checkWorkerRows(t *testing.T, d bench.Distributed) (ok int) {
	t.Helper()
	var sent, confirmed, received int64
	lat := map[string]int64{}
	for _, w := range d.Workers {
		if w.Status != bench.WorkerOK {
			continue
		}
		ok++
		sent += w.Summary.Sent
		confirmed += w.Summary.Confirmed
		received += w.Summary.Received
		for _, l := range w.Summary.Latency {
			lat[l.Name] += l.Count
		}
	}
	tot := d.Total
	if tot.Sent != sent || tot.Confirmed != confirmed || tot.Received != received || sent == 0 {
		t.Errorf("total sent/confirmed/received %d/%d/%d, the workers' sum %d/%d/%d", tot.Sent, tot.Confirmed, tot.Received, sent, confirmed, received)
	}
	if len(tot.Latency) != len(lat) || len(lat) < 2 { // the workers' histograms, merged
		t.Fatalf("total latencies %+v", tot.Latency)
	}
	for _, l := range tot.Latency {
		if l.Count != lat[l.Name] || l.Count == 0 {
			t.Errorf("%s: merged histogram holds %d values, the workers' %d", l.Name, l.Count, lat[l.Name])
		}
	}
	return ok
}

// TestBenchWorkersProcesses: a leader and three worker processes on one
// JetStream server, then on Kafka; the merged total is the sum of the
// workers' rows and of what each worker printed itself.
func TestBenchWorkersProcesses(t *testing.T) {
	t.Run("jetstream", func(t *testing.T) {
		srv, js := natsJetStream(t)
		benchWorkersProcesses(t, srv.URL)
		var left []string
		for n := range js.StreamNames(context.Background()).Name() {
			left = append(left, n)
		}
		if len(left) != 0 {
			t.Errorf("streams left behind: %v", left)
		}
	})
	t.Run("kafka", func(t *testing.T) {
		benchWorkersProcesses(t, testenv.Kafka(t, sandbox.KafkaOptions{}).URL)
	})
}

func benchWorkersProcesses(t *testing.T, url string) {
	c := newCLI(t)
	c.env = []string{"MQCTL_URL=" + url}
	ws := startBenchWorkers(t, c, 3)
	r := c.run("bench", "--workers", "3", "--count", "3000", "--size", "64", "--producers", "2", "-o", "json")
	if r.code != 0 {
		t.Fatalf("leader exit %d: %s", r.code, r.stderr)
	}
	var d bench.Distributed
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("leader stdout: %v: %q", err, r.stdout)
	}
	if n := checkWorkerRows(t, d); n != 3 || d.Total.Sent != 3000 || d.Total.Lost != 0 || d.Total.Received != 3000 {
		t.Errorf("%d workers ok, total %+v", n, d.Total)
	}
	var printed int64
	for i, w := range ws {
		<-w.done
		var s bench.Summary
		if err := json.Unmarshal(w.out.Bytes(), &s); w.code != 0 || err != nil {
			t.Fatalf("worker %d: exit %d, %v, stderr %q", i, w.code, err, w.stderr.String())
		}
		printed += s.Sent
	}
	if printed != d.Total.Sent {
		t.Errorf("workers printed %d sent, the leader merged %d", printed, d.Total.Sent)
	}
}

// TestBenchWorkerKilled: kill -9 one of three workers mid-run: the leader
// reports it missing, the other two finish and are merged, exit 3.
func TestBenchWorkerKilled(t *testing.T) {
	srv, _ := natsJetStream(t)
	c := newCLI(t)
	c.env = []string{"MQCTL_URL=" + srv.URL}
	ws := startBenchWorkers(t, c, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	leader := c.command(ctx, "bench", "--workers", "3", "--duration", "5s", "--rate", "600", "--size", "64", "-o", "json")
	var out bytes.Buffer
	leader.Stdout = &out
	stderr, err := leader.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	joined := make(chan struct{})
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.Contains(sc.Text(), "joined: 3 of 3") {
				close(joined)
			}
		}
	}()
	select {
	case <-joined:
	case <-ctx.Done():
		t.Fatal("the workers did not join")
	}
	// The run starts a second after the join; kill a worker while it sends.
	time.Sleep(2500 * time.Millisecond)
	if err := ws[0].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-scanned
	var exit *exec.ExitError
	code := 0
	if err := leader.Wait(); errors.As(err, &exit) {
		code = exit.ExitCode()
	}
	stderrText := strings.Join(lines, "\n")
	if code != 3 || !strings.Contains(stderrText, "1 of 3 workers did not finish") || !strings.Contains(stderrText, "missing") {
		t.Fatalf("leader exit %d, stderr:\n%s", code, stderrText)
	}
	var d bench.Distributed
	if err := json.Unmarshal(out.Bytes(), &d); err != nil {
		t.Fatalf("leader stdout: %v: %q", err, out.String())
	}
	if n := checkWorkerRows(t, d); n != 2 || d.Missing != 1 {
		t.Errorf("%d workers ok, %d missing: %+v", n, d.Missing, d.Workers)
	}
	for i, w := range ws[1:] {
		<-w.done
		if w.code != 0 {
			t.Errorf("worker %d: exit %d, stderr %q", i+1, w.code, w.stderr.String())
		}
	}
}
