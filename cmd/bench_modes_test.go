package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mqctl/mqctl/internal/bench"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// TestBenchRateSearch: --rate max on JetStream starts with an unlimited
// step, reports each step, and finds a rate under a loose bound; every
// stream it created is gone afterwards.
func TestBenchRateSearch(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	r := runInProcess(t, false, map[string]string{"MQCTL_URL": srv.URL}, "-o", "json",
		"bench", "pub", "--rate", "max", "--p99-under", "5s", "--duration", "300ms", "--size", "64")
	var res bench.SearchResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("stdout %q: %v (stderr %q)", r.stdout, err, r.stderr)
	}
	if r.code != 0 || !res.Found || res.BestRate <= 0 || len(res.Steps) < 2 || res.Steps[0].Rate != 0 || res.Broker != "nats" {
		t.Fatalf("exit %d, result %+v, stderr %q", r.code, res, r.stderr)
	}
	best := res.Steps[len(res.Steps)-1]
	for _, st := range res.Steps {
		if st.Passed && st.Rate == res.BestRate {
			best = st
		}
	}
	if !best.Passed || best.ConfirmP99 > 5_000_000 || best.Achieved < 0.95*best.Rate {
		t.Errorf("best step %+v does not meet the bound", best)
	}
	if names := streamNames(t, srv.URL); len(names) != 0 {
		t.Errorf("streams left behind: %v", names)
	}
}

// TestBenchRateSearchNothingPasses: a bound no broker meets ends the
// search with no rate found: every step failed, exit 1, the table says so.
func TestBenchRateSearchNothingPasses(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	r := runInProcess(t, false, map[string]string{"MQCTL_URL": srv.URL},
		"bench", "pub", "--rate", "max", "--p99-under", "1us", "--duration", "200ms", "--size", "64")
	if r.code != mqerr.ExitFailure || r.stderr != "mqctl: no rate kept p99 publish→confirm under 1µs\n" {
		t.Fatalf("exit %d, stderr %q, stdout %q", r.code, r.stderr, r.stdout)
	}
	if !strings.Contains(r.stdout, "best  none") && !strings.Contains(r.stdout, "best\tnone") {
		t.Errorf("table does not say no rate was found:\n%s", r.stdout)
	}
}

// TestBenchCompareContexts: the same workload on a Kafka and a JetStream
// context, one comparison with ratios and the parity lines; nothing lost.
func TestBenchCompareContexts(t *testing.T) {
	k := testenv.Kafka(t, sandbox.KafkaOptions{})
	n := testenv.NATS(t, sandbox.NATSOptions{})
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	yaml := "current_context: n\ncontexts:\n- name: k\n  url: " + k.URL + "\n- name: n\n  url: " + n.URL + "\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"MQCTL_CONFIG": cfg}
	r := runInProcess(t, false, env, "-o", "json", "bench", "--compare", "k,n", "--count", "500", "--size", "64", "--compression", "snappy")
	var c bench.Comparison
	if err := json.Unmarshal([]byte(r.stdout), &c); err != nil {
		t.Fatalf("stdout %q: %v (stderr %q)", r.stdout, err, r.stderr)
	}
	if r.code != 0 || len(c.Runs) != 2 || c.Runs[0] != "k" || c.Runs[1] != "n" || len(c.Parity) != 3 {
		t.Fatalf("exit %d, comparison %+v, stderr %q", r.code, c, r.stderr)
	}
	rows := map[string][]string{}
	for _, row := range c.Rows {
		rows[row.Metric] = row.Values
	}
	if b := rows["broker"]; len(b) != 2 || b[0] != "kafka" || b[1] != "nats" {
		t.Errorf("brokers %v", b)
	}
	for _, m := range []string{"confirmed", "received"} {
		if v := rows[m]; len(v) != 2 || v[0] != "500" || v[1] != "500" {
			t.Errorf("%s %v, want 500 on both", m, v)
		}
	}
	if v := rows["lost"]; len(v) != 2 || v[0] != "0" || v[1] != "0" {
		t.Errorf("lost %v", v)
	}
	// Each run keeps the broker flags its broker took.
	if v := rows["flags"]; len(v) != 2 || v[0] != "--compression=snappy" || v[1] != "" {
		t.Errorf("flags %q, want --compression=snappy for kafka only", v)
	}
	if !strings.HasPrefix(c.Parity[0], "confirm (matched): kafka acks=all") {
		t.Errorf("parity %q", c.Parity)
	}

	// A flag of a broker no listed context runs is refused before any run.
	r = runInProcess(t, false, env, "bench", "--compare", "k,n", "--queue-type", "quorum", "--count", "10")
	if r.code != 2 || r.stderr != "mqctl: --queue-type applies to rabbitmq only, and no --compare context is\n" {
		t.Errorf("%+v", r)
	}
	// So is a knob the Kafka driver refuses, listed after a NATS context
	// whose run would otherwise come first (--keep: it would leave its
	// stream behind).
	r = runInProcess(t, false, env, "bench", "--compare", "n,k", "--acks", "1", "--idempotent=false", "--keep", "--count", "10")
	if r.code != 2 || !oneLine(r.stderr, "--idempotent=false") || r.stdout != "" {
		t.Errorf("--acks 1 --idempotent=false: exit %d, stderr %q, stdout %q; want exit 2 and one line naming the flag", r.code, r.stderr, r.stdout)
	}
	if names := streamNames(t, n.URL); len(names) != 0 {
		t.Errorf("the NATS run went ahead before the Kafka knob was refused: streams %v", names)
	}
	// An unknown context fails before any run, naming it.
	r = runInProcess(t, false, env, "bench", "--compare", "k,nope", "--count", "10")
	if r.code == 0 || !strings.Contains(r.stderr, "--compare nope") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("%+v", r)
	}
}

// TestBenchKafkaIdempotence: the default producer asks kfake for a
// producer id (idempotent writes); --idempotent=false never does. Both
// runs, with --linger, reconcile.
func TestBenchKafkaIdempotence(t *testing.T) {
	k := testenv.Kafka(t, sandbox.KafkaOptions{})
	var inits atomic.Int64
	k.Cluster().ControlKey(int16(kmsg.InitProducerID), func(kmsg.Request) (kmsg.Response, error, bool) {
		k.Cluster().KeepControl()
		inits.Add(1)
		return nil, nil, false
	})
	for _, c := range []struct {
		args      []string
		wantInits bool
	}{
		{[]string{"--linger", "2ms"}, true},
		{[]string{"--linger", "2ms", "--idempotent=false"}, false},
		// -1 is all: idempotent by default, and it can be turned off.
		{[]string{"--acks", "-1"}, true},
		{[]string{"--acks", "-1", "--idempotent=false"}, false},
	} {
		inits.Store(0)
		s, code, stderr := benchOn(t, k.URL, 0, append([]string{"pub", "--count", "300", "--size", "64"}, c.args...)...)
		if code != 0 || s.Confirmed != 300 || s.Failed != 0 {
			t.Fatalf("%v: exit %d, summary %+v, stderr %q", c.args, code, s, stderr)
		}
		if got := inits.Load() > 0; got != c.wantInits {
			t.Errorf("%v: %d InitProducerID requests, want some: %v", c.args, inits.Load(), c.wantInits)
		}
	}
	// Refused by the Kafka driver's plan, before the topic is made, and
	// by a leader before it waits for its workers.
	for _, lead := range [][]string{nil, {"--workers", "2", "--join-timeout", "30s"}} {
		args := append([]string{"bench", "--acks", "1", "--idempotent=false", "--count", "10"}, lead...)
		r := runInProcess(t, false, map[string]string{"MQCTL_URL": k.URL}, args...)
		if r.code != 2 || !oneLine(r.stderr, "--idempotent=false") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line naming the flag", args, r.code, r.stderr)
		}
	}
}
