package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/bench"
	"github.com/mqctl/mqctl/internal/output"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// What bench, bench compare, serve, top and offsets reset print on a
// terminal and in a pipe, and how each refuses bad input on both: one
// line on stderr, the documented exit code, before any connection.

// ttyAndPipe runs args on a terminal and in a pipe.
func ttyAndPipe(t *testing.T, env map[string]string, args ...string) map[string]inProcessResult {
	t.Helper()
	return map[string]inProcessResult{
		"tty":  runInProcess(t, true, env, args...),
		"pipe": runInProcess(t, false, env, args...),
	}
}

// oneLine reports whether stderr is one "mqctl: " line naming mention.
func oneLine(stderr, mention string) bool {
	return strings.HasPrefix(stderr, "mqctl: ") && strings.Count(stderr, "\n") == 1 &&
		strings.HasSuffix(stderr, "\n") && strings.Contains(stderr, mention)
}

// noRawControls reports whether s holds no byte a terminal would act on
// but newline (and tab, when tabs is set).
func noRawControls(s string, tabs bool) bool {
	for _, c := range []byte(s) {
		if c < 0x20 && c != '\n' && !(tabs && c == '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// TestBenchOutputTTYAndPipe: a bench run prints its summary as an aligned
// table on a terminal, where stderr's live line is cleared at the end, and
// as tab-separated rows in a pipe, where stderr gets no escape sequence.
func TestBenchOutputTTYAndPipe(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	env := map[string]string{"MQCTL_URL": srv.URL}
	runs := ttyAndPipe(t, env, "bench", "--count", "200", "--size", "64")
	tty, pipe := runs["tty"], runs["pipe"]
	for name, r := range runs {
		if r.code != 0 {
			t.Fatalf("%s: exit %d, stderr %q", name, r.code, r.stderr)
		}
	}
	if !strings.HasPrefix(tty.stdout, "METRIC  ") || strings.Contains(tty.stdout, "\t") ||
		!slices.Equal(strings.Fields(lineStarting(tty.stdout, "sent ")), []string{"sent", "200"}) {
		t.Errorf("tty stdout: want an aligned table with sent 200, got %q", tty.stdout)
	}
	if !strings.HasSuffix(tty.stderr, "\r\x1b[K") {
		t.Errorf("tty stderr: want the live line cleared at the end, got %q", tty.stderr)
	}
	if !strings.HasPrefix(pipe.stdout, "METRIC\tCOUNT\tP50\tP90\tP99\tP99.9\tP99.99\tMAX\n") ||
		!strings.Contains(pipe.stdout, "\nsent\t200\t\t\t\t\t\t\n") {
		t.Errorf("pipe stdout: want tab-separated rows with sent 200, got %q", pipe.stdout)
	}
	if pipe.stderr != "" {
		t.Errorf("pipe stderr: want nothing, got %q", pipe.stderr)
	}
}

// lineStarting is the first line of s that starts with prefix.
func lineStarting(s, prefix string) string {
	for line := range strings.Lines(s) {
		if strings.HasPrefix(line, prefix) {
			return strings.TrimSuffix(line, "\n")
		}
	}
	return ""
}

// TestBenchCompareTTYAndPipe: two kept runs side by side, one of them in
// a file whose name holds a tab and an escape sequence and whose broker
// field holds an OSC 52 clipboard write: an aligned table on a terminal,
// tab-separated rows in a pipe, with those names escaped on both so every
// row keeps its four columns.
func TestBenchCompareTTYAndPipe(t *testing.T) {
	dir := t.TempDir()
	hostile := "a\t\x1b[2J"
	shown := `a\t\x1b[2J`
	files := []string{filepath.Join(dir, hostile+".json"), filepath.Join(dir, "b.json")}
	for i, s := range []bench.Summary{
		{V: 1, Broker: "nats\x1b]52;c;cHduZWQ=\x07", Workload: bench.Workload{Mode: "e2e", Producers: 1, Consumers: 1, Size: 64, Count: 300},
			Sent: 300, Confirmed: 300, Received: 300, MsgsPerSec: 1000},
		{V: 1, Broker: "nats", Workload: bench.Workload{Mode: "e2e", Producers: 1, Consumers: 1, Size: 64, Count: 600},
			Sent: 600, Confirmed: 600, Received: 600, MsgsPerSec: 1500},
	} {
		j, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(files[i], j, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	runs := ttyAndPipe(t, nil, append([]string{"bench", "compare"}, files...)...)
	tty, pipe := runs["tty"], runs["pipe"]
	for name, r := range runs {
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("%s: exit %d, stderr %q", name, r.code, r.stderr)
		}
	}
	if !noRawControls(tty.stdout, false) || !slices.Equal(strings.Fields(lineStarting(tty.stdout, "METRIC ")), []string{"METRIC", shown, "b", "/" + shown}) ||
		!strings.Contains(tty.stdout, `nats\x1b]52;c;cHduZWQ=\x07`) ||
		!slices.Equal(strings.Fields(lineStarting(tty.stdout, "sent ")), []string{"sent", "300", "600", "2.00x"}) {
		t.Errorf("tty: want an aligned table with the names escaped, got %q", tty.stdout)
	}
	if !noRawControls(pipe.stdout, true) || !strings.HasPrefix(pipe.stdout, "METRIC\t"+shown+"\tb\t/"+shown+"\n") ||
		!strings.Contains(pipe.stdout, "\nsent\t300\t600\t2.00x\n") {
		t.Errorf("pipe: want tab-separated rows with the names escaped, got %q", pipe.stdout)
	}
	for line := range strings.Lines(pipe.stdout) {
		if strings.Count(line, "\t") != 3 {
			t.Errorf("pipe: row %q has %d tabs, want 3 (four columns)", line, strings.Count(line, "\t"))
		}
	}
}

// TestBenchCompareRefusesTTYAndPipe: fewer than two runs, a missing file
// or one that is not a kept run: exit 2 and one line, on both.
func TestBenchCompareRefusesTTYAndPipe(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.json")
	if err := os.WriteFile(junk, []byte(`{"v":7}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args    []string
		mention string
	}{
		{[]string{junk}, "requires at least 2 arg"},
		{[]string{junk, junk}, "version 7, want 1"},
		{[]string{filepath.Join(dir, "none.json"), junk}, "none.json"},
	} {
		for name, r := range ttyAndPipe(t, nil, append([]string{"bench", "compare"}, c.args...)...) {
			if r.code != 2 || r.stdout != "" || !oneLine(r.stderr, c.mention) {
				t.Errorf("%s %v: exit %d, stdout %q, stderr %q; want 2 and one line naming %q", name, c.args, r.code, r.stdout, r.stderr, c.mention)
			}
		}
	}
}

// TestServeRefusesTTYAndPipe: a --listen that is not host:port, or one
// that is taken, and flags that cannot work are exit 2 and one line on a
// terminal as in a pipe.
func TestServeRefusesTTYAndPipe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().String()
	env := map[string]string{"MQCTL_URL": fmt.Sprintf("kafka://127.0.0.1:%d", testenv.ClosedPort(t))}
	for _, c := range []struct {
		args    []string
		mention string
	}{
		{[]string{"--listen", "9308"}, `--listen "9308": want host:port`},
		{[]string{"--listen", "127.0.0.1:"}, `--listen "127.0.0.1:": want host:port`},
		{[]string{"--listen", "a b:9308"}, "want host:port"},
		{[]string{"--listen", taken}, "address already in use"},
		{[]string{"--interval", "50ms"}, "--interval 50ms: at least 100ms"},
		{[]string{"--samples", "1"}, "--samples 1"},
	} {
		for name, r := range ttyAndPipe(t, env, append([]string{"serve"}, c.args...)...) {
			if r.code != 2 || r.stdout != "" || !oneLine(r.stderr, c.mention) {
				t.Errorf("%s %v: exit %d, stdout %q, stderr %q; want 2 and one line naming %q", name, c.args, r.code, r.stdout, r.stderr, c.mention)
			}
		}
	}
}

// TestTopRefusesWithoutTerminalTTYAndPipe: top needs a terminal on stdin
// and stdout; without one it is exit 2 and one line saying what to use
// instead, and a bad flag or no context to watch is refused on a terminal
// before the dashboard starts.
func TestTopRefusesWithoutTerminalTTYAndPipe(t *testing.T) {
	env := map[string]string{"MQCTL_URL": fmt.Sprintf("kafka://127.0.0.1:%d", testenv.ClosedPort(t))}
	// stdin fails once read: a dashboard that started in spite of the
	// refusal ends at once rather than waiting for keys.
	terminal := func(in, out bool) func(*output.Streams) {
		return func(io *output.Streams) {
			io.InTTY, io.OutTTY, io.ErrTTY = in, out, out
			io.In = iotest.ErrReader(errors.New("the dashboard read stdin"))
		}
	}
	const needs = "top needs a terminal on stdin and stdout (use 'mqctl lag --watch' or 'mqctl ls' in scripts)"
	for _, c := range []struct {
		name    string
		streams func(*output.Streams)
		args    []string
		mention string
	}{
		{"pipe", terminal(false, false), nil, needs},
		{"stdout a terminal, stdin a pipe", terminal(false, true), nil, needs},
		{"stdin a terminal, stdout a pipe", terminal(true, false), nil, needs},
		{"terminal, bad interval", terminal(true, true), []string{"--interval", "10ms"}, "--interval 10ms: at least 100ms"},
		{"pipe, bad interval", terminal(false, false), []string{"--interval", "10ms"}, "--interval 10ms: at least 100ms"},
		{"terminal, no contexts", terminal(true, true), []string{"--all-contexts"}, "--all-contexts: no contexts in the config file"},
		{"terminal, an argument", terminal(true, true), []string{"extra"}, "unknown command"},
	} {
		r := runInProcessOn(t, c.streams, env, append([]string{"top"}, c.args...)...)
		if r.code != 2 || r.stdout != "" || !oneLine(r.stderr, c.mention) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 2 and one line naming %q", c.name, r.code, r.stdout, r.stderr, c.mention)
		}
	}
}

// TestOffsetsRefusesTTYAndPipe: where to is missing or given twice, or a
// value does not parse: exit 2 and one line, before connecting (nothing
// listens at the URL, so a connection would fail with exit 1).
func TestOffsetsRefusesTTYAndPipe(t *testing.T) {
	env := map[string]string{"MQCTL_URL": fmt.Sprintf("kafka://127.0.0.1:%d", testenv.ClosedPort(t))}
	for _, c := range []struct {
		args    []string
		mention string
	}{
		{[]string{"g"}, "exactly one of --to, --to-seq or --to-time"},
		{[]string{"g", "--to", "latest", "--to-seq", "3"}, "exactly one of --to, --to-seq or --to-time"},
		{[]string{"g", "--to-seq", "0"}, "--to-seq 0"},
		{[]string{"g", "--to-time", "42"}, "--to-time 42"},
		{[]string{"g", "--to", "sometime"}, "sometime"},
		{[]string{"g", "--to", "latest", "--topic", "orders:x"}, "orders:x"},
		{[]string{"--to", "latest"}, "accepts 1 arg"},
	} {
		for name, r := range ttyAndPipe(t, env, append([]string{"offsets", "reset"}, c.args...)...) {
			if r.code != 2 || r.stdout != "" || !oneLine(r.stderr, c.mention) {
				t.Errorf("%s %v: exit %d, stdout %q, stderr %q; want 2 and one line naming %q", name, c.args, r.code, r.stdout, r.stderr, c.mention)
			}
		}
	}
}

// TestOffsetsPlanTTYAndPipe: the plan of a reset is an aligned table on a
// terminal and tab-separated rows in a pipe, with one line on stderr
// saying nothing changed; stdout carries the plan only.
func TestOffsetsPlanTTYAndPipe(t *testing.T) {
	k := testenv.Kafka(t, sandbox.KafkaOptions{Extra: []kfake.Opt{kfake.SeedTopics(1, "orders")}})
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	for i := range 3 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: fmt.Appendf(nil, "m%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var committed kadm.Offsets
	committed.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 1, LeaderEpoch: -1})
	if err := kadm.NewClient(cl).CommitAllOffsets(ctx, "billing", committed); err != nil {
		t.Fatal(err)
	}
	runs := ttyAndPipe(t, map[string]string{"MQCTL_URL": k.URL}, "offsets", "reset", "billing", "--to", "latest")
	for name, r := range runs {
		if r.code != 0 || !oneLine(r.stderr, "plan only, nothing changed; --execute will ") {
			t.Errorf("%s: exit %d, stderr %q; want 0 and one line saying nothing changed", name, r.code, r.stderr)
		}
	}
	tty, pipe := runs["tty"], runs["pipe"]
	if lines := strings.Split(strings.TrimSuffix(tty.stdout, "\n"), "\n"); len(lines) != 2 || strings.Contains(tty.stdout, "\t") ||
		!strings.HasPrefix(lines[0], "TOPIC   PARTITION  CURRENT  NEW  CHANGE  LAG AFTER") ||
		!slices.Equal(strings.Fields(lines[1]), []string{"orders", "0", "1", "3", "+2", "0"}) {
		t.Errorf("tty: want an aligned plan of one row, orders 0 from 1 to 3, got %q", tty.stdout)
	}
	if pipe.stdout != "TOPIC\tPARTITION\tCURRENT\tNEW\tCHANGE\tLAG AFTER\norders\t0\t1\t3\t+2\t0\n" {
		t.Errorf("pipe: want the plan as tab-separated rows, got %q", pipe.stdout)
	}
	// Nothing changed: the group is still at 1.
	got, err := kadm.NewClient(cl).FetchOffsets(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := got.Lookup("orders", 0); o.At != 1 {
		t.Errorf("committed offset %d after a plan, want 1", o.At)
	}
}
