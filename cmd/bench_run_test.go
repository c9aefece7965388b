package cmd

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqctl/mqctl/internal/bench"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// benchOn runs `mqctl bench args` in process against url with -o json,
// the loss hook set to dropEvery; it returns the summary and exit code.
func benchOn(t *testing.T, url string, dropEvery int64, args ...string) (bench.Summary, int, string) {
	t.Helper()
	return benchOnCtx(t, context.Background(), url, dropEvery, args...)
}

func benchOnCtx(t *testing.T, ctx context.Context, url string, dropEvery int64, args ...string) (bench.Summary, int, string) {
	t.Helper()
	io, out, errOut := output.Test()
	f := NewFactory(io)
	dir := t.TempDir()
	f.Getenv = func(k string) string {
		switch k {
		case "MQCTL_CONFIG":
			return dir + "/c.yaml"
		case "MQCTL_URL":
			return url
		}
		return ""
	}
	f.Global.Output = "json"
	cmd := NewCmdBench(f, func(o *BenchOptions) error { o.DropEvery = dropEvery; return benchRun(o) })
	cmd.SetArgs(args)
	cmd.SetContext(ctx)
	err := cmd.Execute()
	var s bench.Summary
	if jerr := json.Unmarshal(out.Bytes(), &s); jerr != nil {
		t.Fatalf("stdout is not a summary: %v: %q (stderr %q, err %v)", jerr, out.String(), errOut.String(), err)
	}
	return s, mqerr.ExitCode(err), errOut.String()
}

func streamNames(t *testing.T, url string) []string {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	var names []string
	l := js.StreamNames(context.Background())
	for n := range l.Name() {
		names = append(names, n)
	}
	return names
}

// TestBenchJetStreamRun: a clean run reconciles and exits 0, and the
// stream the bench created is gone afterwards.
func TestBenchJetStreamRun(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	s, code, stderr := benchOn(t, srv.URL, 0, "--count", "1000", "--size", "64", "--producers", "2", "--consumers", "2", "--storage", "memory", "--prefetch", "50")
	if code != 0 || s.Sent != 1000 || s.Confirmed != 1000 || s.Received != 1000 || s.Lost != 0 || s.Duplicated != 0 {
		t.Fatalf("exit %d, summary %+v, stderr %q", code, s, stderr)
	}
	// The kept run says how the broker was set up: the flags given.
	if len(s.Flags) != 2 || s.Flags["storage"] != "memory" || s.Flags["prefetch"] != "50" {
		t.Errorf("flags %v, want storage=memory and prefetch=50", s.Flags)
	}
	if len(s.Latency) != 2 || s.Latency[1].Name != "end-to-end" || s.Latency[0].Count != 1000 || len(s.Latency[0].Encoded) == 0 || s.Workload.Count != 1000 {
		t.Errorf("latency %+v workload %+v", s.Latency, s.Workload)
	}
	if names := streamNames(t, srv.URL); len(names) != 0 {
		t.Errorf("streams left behind: %v", names)
	}
}

// TestBenchLossExit3: a consumer that ignores every 100th delivery makes
// 10 of 1000 confirmed messages lost: reported, exit 3.
func TestBenchLossExit3(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	s, code, stderr := benchOn(t, srv.URL, 100, "--count", "1000", "--size", "64")
	if code != mqerr.ExitPartial || s.Lost != 10 || s.Confirmed != 1000 {
		t.Fatalf("exit %d, lost %d, confirmed %d, stderr %q", code, s.Lost, s.Confirmed, stderr)
	}
}

// TestBenchRefusesOtherBrokersFlags: --acks is Kafka's.
func TestBenchRefusesOtherBrokersFlags(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	r := runInProcess(t, false, map[string]string{"MQCTL_URL": srv.URL}, "bench", "--acks", "1", "--count", "10")
	if r.code != 2 || r.stderr != "mqctl: --acks applies to kafka only, and this context is nats\n" {
		t.Errorf("%+v", r)
	}
	if names := streamNames(t, srv.URL); len(names) != 0 {
		t.Errorf("streams left behind: %v", names)
	}
	for _, f := range []string{"--confirm=false", "--multi-ack=5"} {
		r = runInProcess(t, false, map[string]string{"MQCTL_URL": srv.URL}, "bench", f, "--count", "10")
		name, _, _ := strings.Cut(f, "=")
		if r.code != 2 || r.stderr != "mqctl: "+name+" applies to rabbitmq only, and this context is nats\n" {
			t.Errorf("%s: %+v", f, r)
		}
	}
}

// TestBenchInterrupt: Ctrl-C stops sending, drains the confirms, prints
// the summary so far, deletes the stream and exits 130.
func TestBenchInterrupt(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(time.Second)
		cancel()
	}()
	s, code, stderr := benchOnCtx(t, ctx, srv.URL, 0, "--rate", "200", "--duration", "1m", "--size", "64")
	if code != mqerr.ExitInterrupted || !s.Interrupted || s.Sent == 0 || s.Failed != 0 || s.Confirmed != s.Sent || s.Lost != 0 {
		t.Fatalf("exit %d, summary %+v, stderr %q", code, s, stderr)
	}
	if names := streamNames(t, srv.URL); len(names) != 0 {
		t.Errorf("streams left behind: %v", names)
	}
}

// TestBenchReadOnlyContext: every kind of run refuses a read-only context
// with one line and exit 2, prints nothing on stdout (the rate search
// printed an empty table of steps) and creates nothing.
func TestBenchReadOnlyContext(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	env := map[string]string{"MQCTL_CONFIG": filepath.Join(t.TempDir(), "config.yaml")}
	if r := runInProcess(t, false, env, "context", "add", "ro", "--url", srv.URL, "--read-only"); r.code != 0 {
		t.Fatalf("context add: %+v", r)
	}
	for _, args := range [][]string{
		{"--count", "10"},
		{"--rate", "max", "--p99-under", "10ms", "--duration", "1s"},
		{"--compare", "ro,ro", "--count", "10"},
		{"--workers", "2", "--join-timeout", "1s"},
		{"--worker", "--join-timeout", "1s"},
	} {
		r := runInProcess(t, false, env, append([]string{"bench", "-c", "ro"}, args...)...)
		if r.code != 2 || r.stdout != "" || !oneLine(r.stderr, "read-only") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2, nothing on stdout, one line saying read-only", args, r.code, r.stdout, r.stderr)
		}
	}
	if names := streamNames(t, srv.URL); len(names) != 0 {
		t.Errorf("streams left behind: %v", names)
	}
}
