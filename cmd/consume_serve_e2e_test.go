package cmd_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
)

// consumeHealth is /healthz's body.
type consumeHealth struct {
	Status     string `json:"status"`
	Components map[string]struct {
		Status  string         `json:"status"`
		Details map[string]any `json:"details"`
	} `json:"components"`
}

func scrapeFamilies(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := httpGet(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams
}

// counterValue is the value of a counter or gauge without labels; -1
// when absent.
func counterValue(fams map[string]*dto.MetricFamily, name string) float64 {
	f := fams[name]
	if f == nil || len(f.GetMetric()) != 1 {
		return -1
	}
	m := f.GetMetric()[0]
	if m.Counter != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

func getHealth(t *testing.T, base string) (int, consumeHealth) {
	t.Helper()
	code, body := httpGet(t, base+"/healthz")
	var h consumeHealth
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("/healthz %d: %v: %q", code, err, body)
	}
	return code, h
}

// TestConsumeExecServe runs `consume --exec --serve` on kfake with one
// message failing twice into a dead-letter topic: /metrics (parsed as
// Prometheus does) counts exactly what the run did, /healthz is UP with
// those counts and the group's lag, and turns DOWN (503) once the broker
// is gone.
func TestConsumeExecServe(t *testing.T) {
	const n = 10
	k, cl := kafkaTopic(t, "jobs", 2, nil)
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1, nil, "jobs.DLT"); err != nil {
		t.Fatal(err)
	}
	produceRecords(t, cl, "jobs", n)
	cmd := newCLI(t).command(context.Background(), "consume", "jobs", "--url", k.URL, "--timeout", "2s", "--group", "workers",
		"--exec", `v=$(cat); [ "$v" != v3 ]`, "--retries", "1", "--backoff", "10ms", "--on-fail", "dead-letter=jobs.DLT",
		"--serve", "127.0.0.1:0")
	base, stderrText := startServing(t, cmd)

	var fams map[string]*dto.MetricFamily
	deadline := time.Now().Add(30 * time.Second)
	for {
		fams = scrapeFamilies(t, base)
		if counterValue(fams, "mqctl_consume_handled_total")+counterValue(fams, "mqctl_consume_dead_lettered_total") >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not all handled after 30s; stderr %q", stderrText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for name, want := range map[string]float64{
		"mqctl_consume_read_total":          n,
		"mqctl_consume_handled_total":       n - 1,
		"mqctl_consume_failed_total":        1,
		"mqctl_consume_retried_total":       1,
		"mqctl_consume_dead_lettered_total": 1,
		"mqctl_consume_acked_total":         n,
	} {
		if got := counterValue(fams, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	runs := map[string]uint64{}
	for _, m := range fams["mqctl_consume_handler_duration_seconds"].GetMetric() {
		for _, l := range m.GetLabel() {
			runs[l.GetValue()] = m.GetHistogram().GetSampleCount()
		}
	}
	if runs["ok"] != n-1 || runs["failed"] != 2 {
		t.Errorf("handler duration counts %v, want ok %d failed 2", runs, n-1)
	}

	// The probe reads the group's lag: 0 once the commits reached kfake.
	var h consumeHealth
	deadline = time.Now().Add(30 * time.Second)
	for {
		var code int
		code, h = getHealth(t, base)
		if code != http.StatusOK || h.Status != "UP" {
			t.Fatalf("/healthz %d %+v", code, h)
		}
		if lag, ok := h.Components["consumer"].Details["lag"]; ok && lag == 0.0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz never showed lag 0: %+v", h)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("/healthz: %+v", h)
	d := h.Components["consumer"].Details
	if d["handled"] != float64(n-1) || d["failed"] != 1.0 || d["dead_lettered"] != 1.0 || d["partitions"] != 2.0 || h.Components["broker"].Status != "UP" {
		t.Errorf("/healthz details %+v", h)
	}
	if _, err := time.Parse(time.RFC3339, d["last_poll"].(string)); err != nil {
		t.Errorf("last_poll: %v", err)
	}
	if got := counterValue(scrapeFamilies(t, base), "mqctl_consume_lag"); got != 0 {
		t.Errorf("mqctl_consume_lag = %v, want 0", got)
	}

	// The broker goes away: the next probe fails and /healthz says DOWN.
	k.Close()
	deadline = time.Now().Add(30 * time.Second)
	for {
		code, h := getHealth(t, base)
		if code == http.StatusServiceUnavailable {
			if h.Status != "DOWN" || h.Components["broker"].Status != "DOWN" || h.Components["broker"].Details["error"] == nil {
				t.Errorf("503 with %+v", h)
			}
			if got := counterValue(scrapeFamilies(t, base), "mqctl_consume_lag"); got != -1 {
				t.Errorf("mqctl_consume_lag = %v while the broker is down, want absent", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz still %d %+v 30s after the broker stopped", code, h)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// While a handler holds the only delivery a JetStream durable allows
// (--prefetch 1), the lag /healthz and /metrics show is what
// `mqctl lag -o json` reports for that consumer: the messages not yet
// delivered. Kafka without a group has no lag: /healthz is UP without it.
func TestConsumeExecServeLag(t *testing.T) {
	srv, _, _ := natsStream(t, "WORK", []string{"work"}, "work", 5)
	k, cl := kafkaTopic(t, "nogroup", 1, nil)
	produceRecords(t, cl, "nogroup", 2)
	for _, tc := range []struct {
		name    string
		args    []string
		wantLag float64 // -1: none
	}{
		{"jetstream", []string{"consume", "WORK", "--url", srv.URL, "--consumer", "worker", "--prefetch", "1"}, 4},
		{"kafka without group", []string{"consume", "nogroup", "--url", k.URL}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCLI(t)
			cmd := c.command(context.Background(), append(tc.args, "--exec", "cat >/dev/null; sleep 60", "--shutdown-timeout", "1s", "--serve", "127.0.0.1:0")...)
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				cmd.Process.Signal(syscall.SIGKILL)
				cmd.Wait()
			}()
			sc := bufio.NewScanner(stderr)
			base := ""
			for base == "" && sc.Scan() {
				base, _ = strings.CutPrefix(sc.Text(), "mqctl: serving /healthz and /metrics on ")
			}
			go func() {
				for sc.Scan() {
				}
			}()
			if base == "" {
				t.Fatal("no serving line on stderr")
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				code, h := getHealth(t, base)
				if code != http.StatusOK {
					t.Fatalf("/healthz %d %+v", code, h)
				}
				lag, ok := h.Components["consumer"].Details["lag"]
				_, checked := h.Components["broker"].Details["last_check"]
				if parts, has := h.Components["consumer"].Details["partitions"]; has && tc.name != "kafka without group" {
					t.Errorf("partitions %v on a broker that assigns none", parts)
				}
				switch {
				case tc.wantLag < 0 && checked:
					if ok {
						t.Errorf("lag %v without a group", lag)
					}
					return
				case ok && lag == tc.wantLag:
					if got := counterValue(scrapeFamilies(t, base), "mqctl_consume_lag"); got != tc.wantLag {
						t.Errorf("mqctl_consume_lag = %v, want %v", got, tc.wantLag)
					}
					r := c.run("lag", "WORK", "--url", srv.URL, "-o", "json")
					var rows []map[string]any
					if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
						t.Fatalf("lag -o json: %v: %+v", err, r)
					}
					found := false
					for _, row := range rows {
						if row["consumer"] == "worker" {
							found = true
							if row["lag"] != tc.wantLag {
								t.Errorf("lag -o json says %v for the consumer, /healthz %v", row["lag"], lag)
							}
						}
					}
					if !found {
						t.Errorf("lag -o json has no row of consumer worker: %s", r.stdout)
					}
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("/healthz never showed lag %v: %+v", tc.wantLag, h)
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	}
}

// startServing starts cmd, a consume --serve run, and returns the address
// it serves on and a reader of its stderr so far; cmd is killed when t
// ends.
func startServing(t *testing.T, cmd *exec.Cmd) (string, func() string) {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var errLog strings.Builder
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			mu.Lock()
			errLog.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if a, ok := strings.CutPrefix(sc.Text(), "mqctl: serving /healthz and /metrics on "); ok {
				addr <- a
			}
		}
		close(addr)
	}()
	stderrText := func() string { mu.Lock(); defer mu.Unlock(); return errLog.String() }
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	})
	base, ok := <-addr
	if !ok {
		t.Fatalf("no serving line; stderr %q", stderrText())
	}
	return base, stderrText
}
