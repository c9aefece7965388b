package cmd_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// drainHandler logs the id of each message it starts and finishes to
// $DRAIN_DIR/started and $DRAIN_DIR/done, sleeping $DRAIN_SLEEP between.
const drainHandler = `id="${MQ_PARTITION:-s}-${MQ_OFFSET:-${MQ_STREAM_SEQ:-$MQ_MESSAGE_ID}}"; cat >/dev/null; echo "$id" >>"$DRAIN_DIR/started"; sleep "$DRAIN_SLEEP"; echo "$id" >>"$DRAIN_DIR/done"`

func logLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// TestConsumeExecSIGTERMDrains stops `consume --exec` as Kubernetes does:
// SIGTERM while a handler runs, SIGKILL should mqctl outlive the
// shutdown timeout. The handler running at SIGTERM either finishes within
// --shutdown-timeout and is acked (a second run does not see it again) or
// is stopped and comes again; nothing is lost, nothing new starts after
// SIGTERM, and the exit code is 0.
func TestConsumeExecSIGTERMDrains(t *testing.T) {
	const n = 8
	brokers := []struct {
		name  string
		setup func(t *testing.T) (args []string)
		// rest is how the second run stops once it read everything.
		rest []string
	}{
		{"kafka", func(t *testing.T) []string {
			k, cl := kafkaTopic(t, "jobs", 2, nil)
			produceRecords(t, cl, "jobs", n)
			return []string{"consume", "jobs", "--url", k.URL, "--group", "workers"}
		}, []string{"--until-end"}},
		{"jetstream", func(t *testing.T) []string {
			srv, _, stream := natsStream(t, "JOBS", []string{"jobs"}, "jobs", n)
			// An ack wait far beyond the second run's idle timeout:
			// what the first run pulled and did not handle must come
			// again at once, given back at SIGTERM.
			_, err := stream.CreateConsumer(context.Background(), jetstream.ConsumerConfig{Durable: "workers",
				AckPolicy: jetstream.AckExplicitPolicy, AckWait: 2 * time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			return []string{"consume", "JOBS", "--url", srv.URL, "--consumer", "workers"}
			// --until-end counts a durable's pending messages, which do
			// not include the nacked ones waiting for redelivery.
		}, []string{"--idle-timeout", "5s"}},
		{"rabbitmq", func(t *testing.T) []string {
			u, ch := rabbitQueue(t, "jobs", nil)
			vals := make([]string, n)
			for i := range vals {
				vals[i] = "m" + strconv.Itoa(i)
			}
			publishAMQP(t, ch, "jobs", vals...) // message ids id-0 ... id-7
			return []string{"consume", "jobs", "--url", u}
		}, []string{"--idle-timeout", "3s"}},
	}
	cases := []struct {
		name     string
		sleep    string // how long the first run's handler takes
		shutdown string
		finishes bool // the handler running at SIGTERM finishes in time
	}{
		{"finishes", "1", "20s", true},
		{"cut", "8", "1s", false},
	}
	for _, b := range brokers {
		for _, tc := range cases {
			t.Run(b.name+"/"+tc.name, func(t *testing.T) {
				args := b.setup(t)
				dir1, dir2 := t.TempDir(), t.TempDir()
				c := newCLI(t)
				c.env = []string{"DRAIN_DIR=" + dir1, "DRAIN_SLEEP=" + tc.sleep}
				cmd := c.command(context.Background(), append(args, "--exec", drainHandler, "--shutdown-timeout", tc.shutdown)...)
				var errb strings.Builder
				cmd.Stderr = &errb
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				exited := make(chan struct{})
				go func() { cmd.Wait(); close(exited) }()
				// SIGTERM once a handler is running (started, not done)
				// after at least one finished, for the "finishes" case.
				want := 1
				if tc.finishes {
					want = 2
				}
				var started []string
				deadline := time.Now().Add(30 * time.Second)
				for {
					started = logLines(t, filepath.Join(dir1, "started"))
					done := logLines(t, filepath.Join(dir1, "done"))
					if len(started) >= want && len(started) > len(done) {
						break
					}
					select {
					case <-exited:
						t.Fatalf("mqctl ended before SIGTERM: %v; stderr %q", cmd.ProcessState, errb.String())
					case <-time.After(10 * time.Millisecond):
					}
					if time.Now().After(deadline) {
						cmd.Process.Kill()
						<-exited
						t.Fatalf("no handler running after 30s; stderr %q", errb.String())
					}
				}
				inflight := started[len(started)-1]
				cmd.Process.Signal(syscall.SIGTERM)
				grace, _ := time.ParseDuration(tc.shutdown)
				select {
				case <-exited:
				case <-time.After(grace + 10*time.Second):
					cmd.Process.Signal(syscall.SIGKILL)
					<-exited
					t.Fatalf("mqctl outlived --shutdown-timeout %s and was killed; stderr %q", tc.shutdown, errb.String())
				}
				if code := cmd.ProcessState.ExitCode(); code != 0 {
					t.Fatalf("exit %d after SIGTERM, want 0; stderr %q", code, errb.String())
				}
				started1 := logLines(t, filepath.Join(dir1, "started"))
				done1 := logLines(t, filepath.Join(dir1, "done"))
				if len(started1) != len(started) {
					t.Errorf("handlers started after SIGTERM: %v, before: %v", started1, started)
				}
				if slices.Contains(done1, inflight) != tc.finishes {
					t.Errorf("handler of %s running at SIGTERM: done %v, want %v (done %v; stderr %q)", inflight, !tc.finishes, tc.finishes, done1, errb.String())
				}

				c.env = []string{"DRAIN_DIR=" + dir2, "DRAIN_SLEEP=0"}
				r := c.run(slices.Concat(args, b.rest, []string{"--exec", drainHandler})...)
				if r.code != 0 {
					t.Fatalf("second run: %+v", r)
				}
				started2 := logLines(t, filepath.Join(dir2, "started"))
				for _, id := range done1 {
					if slices.Contains(started2, id) {
						t.Errorf("%s was handled and acked in the first run, but delivered again (second run: %v)", id, started2)
					}
				}
				if !tc.finishes && !slices.Contains(started2, inflight) {
					t.Errorf("%s, stopped at the shutdown timeout, was not delivered again: %v", inflight, started2)
				}
				seen := map[string]bool{}
				for _, id := range append(done1, logLines(t, filepath.Join(dir2, "done"))...) {
					seen[id] = true
				}
				if len(seen) != n {
					t.Errorf("handled %d distinct messages of %d: first run %v, second %v", len(seen), n, done1, started2)
				}
			})
		}
	}
}
