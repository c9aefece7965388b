package cmd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// promSeries is one scraped sample.
type promSeries struct {
	name   string
	labels map[string]string
	value  float64
}

// scrapeMetrics GETs base/metrics and parses it with the client library's
// startServe starts `mqctl serve args...` and waits (30 s at most) until
// url answers 200. exited gets the command's Wait result.
func startServe(t *testing.T, c *cli, ctx context.Context, url string, args ...string) (srv *exec.Cmd, stderr *syncBuffer, exited <-chan error) {
	t.Helper()
	srv = c.command(ctx, append([]string{"serve"}, args...)...)
	stderr = &syncBuffer{}
	srv.Stderr = stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	for deadline := time.Now().Add(30 * time.Second); ; {
		if code, _ := httpGet(t, url); code == http.StatusOK {
			return srv, stderr, done
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never 200; stderr %s", url, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// parser, as Prometheus would.
func scrapeMetrics(t *testing.T, base string) []promSeries {
	t.Helper()
	code, body := httpGet(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	var out []promSeries
	for name, f := range families {
		for _, m := range f.GetMetric() {
			s := promSeries{name: name, labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Gauge != nil:
				s.value = m.GetGauge().GetValue()
			case m.Counter != nil:
				s.value = m.GetCounter().GetValue()
			}
			out = append(out, s)
		}
	}
	return out
}

func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// lagKey names a row by what selects it: context and group/topic/
// partition, queue, or stream/consumer (labels or JSON fields alike).
func lagKey(get func(string) string) string {
	return strings.Join([]string{get("context"), get("group"), get("topic"), get("partition"), get("queue"), get("stream"), get("consumer")}, "|")
}

// jsonLag is `lag -o json`'s lag per row (rows with unknown lag left out).
func jsonLag(rows []map[string]any) map[string]float64 {
	out := map[string]float64{}
	for _, r := range rows {
		v, ok := r["lag"].(float64)
		if !ok || r["kind"] == "error" {
			continue
		}
		out[lagKey(func(k string) string {
			switch v := r[k].(type) {
			case string:
				return v
			case float64:
				return fmt.Sprint(v)
			}
			return ""
		})] = v
	}
	return out
}

// servedLag is the scrape's mqctl_lag_messages per row.
func servedLag(series []promSeries) map[string]float64 {
	out := map[string]float64{}
	for _, s := range series {
		if s.name == "mqctl_lag_messages" {
			out[lagKey(func(k string) string { return s.labels[k] })] = s.value
		}
	}
	return out
}

// servedDead is the scrape's mqctl_dead_letter_messages as context|type|name.
func servedDead(series []promSeries) map[string]float64 {
	out := map[string]float64{}
	for _, s := range series {
		if s.name == "mqctl_dead_letter_messages" {
			out[s.labels["context"]+"|"+s.labels["type"]+"|"+s.labels["destination"]] = s.value
		}
	}
	return out
}

// servedFamily is one family's samples by context|type|destination.
func servedFamily(series []promSeries, family string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range series {
		if s.name == family {
			out[s.labels["context"]+"|"+s.labels["type"]+"|"+s.labels["destination"]] = s.value
		}
	}
	return out
}

// servedQueueCounter is mqctl_queue_<what>_messages_total by context|queue.
func servedQueueCounter(series []promSeries, what string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range series {
		if s.name == "mqctl_queue_"+what+"_messages_total" {
			out[s.labels["context"]+"|"+s.labels["queue"]] = s.value
		}
	}
	return out
}

func upOf(series []promSeries) map[string]float64 {
	out := map[string]float64{}
	for _, s := range series {
		if s.name == "mqctl_context_up" {
			out[s.labels["context"]] = s.value
		}
	}
	return out
}

// syncBuffer is a bytes.Buffer safe to read while the process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// mqctl serve over Kafka, JetStream and RabbitMQ exports the lag `mqctl
// lag -o json` reports for the same contexts; a broker stopped mid-run
// turns its context's up to 0 and its lag series absent while the others
// stay up, and /readyz says 503, until it comes back. SIGTERM stops it
// with exit 0.
func TestServeThreeBrokersAndOneStops(t *testing.T) {
	k, kcl := lagGroup(t) // billing lags 6, 3, 0
	// A dead-letter topic with 2 records.
	if _, err := kadm.NewClient(kcl).CreateTopic(context.Background(), 1, 1, nil, "orders.DLT"); err != nil {
		t.Fatal(err)
	}
	if err := kcl.ProduceSync(context.Background(), &kgo.Record{Topic: "orders.DLT", Value: []byte("a")}, &kgo.Record{Topic: "orders.DLT", Value: []byte("b")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// NATS with a store of its own, to start it again on it later.
	natsDir := t.TempDir()
	n := testenv.NATS(t, sandbox.NATSOptions{StoreDir: natsDir})
	nc, err := nats.Connect(n.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "SERVE", Subjects: []string{"serve.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	for range 9 {
		if _, err := js.Publish(context.Background(), "serve.x", []byte("m")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := js.CreateOrUpdateConsumer(context.Background(), "SERVE", jetstream.ConsumerConfig{Durable: "worker", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	rmq := testenv.RabbitMQ(t)
	vhost := rmq.NewVHost(t)
	u, err := url.Parse(rmq.AMQPURL)
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	vhURL := fmt.Sprintf("amqp://%s@%s/%s", u.User.String(), u.Host, vhost)
	conn, err := amqp.Dial(vhURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	// jobs dead-letters into jobs.dlq, which holds 3.
	if _, err := ch.QueueDeclare("jobs.dlq", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("jobs", false, false, false, false, amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "jobs.dlq"}); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		queue := "jobs"
		if i >= 7 {
			queue = "jobs.dlq"
		}
		c, err := ch.PublishWithDeferredConfirm("", queue, true, false, amqp.Publishing{Body: []byte("x")})
		if err != nil || !c.Wait() {
			t.Fatalf("publish: %v", err)
		}
	}

	c := newCLI(t)
	for _, args := range [][]string{
		{"context", "add", "k", "--url", k.URL},
		{"context", "add", "n", "--url", n.URL},
		{"context", "add", "r", "--url", vhURL, "--management-url", rmq.APIURL},
	} {
		if r := c.run(args...); r.code != 0 {
			t.Fatalf("%v: %+v", args, r)
		}
	}
	// The management API samples queue figures every few seconds: wait
	// until lag knows the queue's depth.
	var want map[string]float64
	for deadline := time.Now().Add(60 * time.Second); ; {
		rows, r := jsonRows(t, c, "lag", "-c", "k,n,r")
		want = jsonLag(rows)
		if r.code == 0 && want["r||||jobs||"] == 7 && want["r||||jobs.dlq||"] == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lag never showed queue jobs with 7 messages and jobs.dlq with 3: %+v", r)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if want["k|billing|orders|0|||"] != 6 || want["n|||||SERVE|worker"] != 9 || len(want) != 6 {
		t.Fatalf("lag -o json: %v", want)
	}
	// What dlq ls finds on each context, as context|type|name.
	wantDead := map[string]float64{}
	for deadline := time.Now().Add(60 * time.Second); ; {
		clear(wantDead)
		for _, name := range []string{"k", "n", "r"} {
			rows, r := jsonRows(t, c, "dlq", "ls", "-c", name)
			if r.code != 0 {
				t.Fatalf("dlq ls -c %s: %+v", name, r)
			}
			for _, row := range rows {
				wantDead[fmt.Sprintf("%s|%s|%s", name, row["type"], row["name"])] = row["messages"].(float64)
			}
		}
		if wantDead["r|queue|jobs.dlq"] == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dlq ls never showed jobs.dlq with 3: %v", wantDead)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if wantDead["k|topic|orders.DLT"] != 2 || len(wantDead) != 2 {
		t.Fatalf("dlq ls: %v, want orders.DLT 2 and jobs.dlq 3", wantDead)
	}

	// What ls lists on each context, as context|type|name: messages and
	// consumers.
	wantDepth, wantConsumers := map[string]float64{}, map[string]float64{}
	for _, name := range []string{"k", "n", "r"} {
		rows, r := jsonRows(t, c, "ls", "-c", name)
		if r.code != 0 {
			t.Fatalf("ls -c %s: %+v", name, r)
		}
		for _, row := range rows {
			key := fmt.Sprintf("%s|%s|%s", name, row["type"], row["name"])
			wantDepth[key], wantConsumers[key] = row["messages"].(float64), row["consumers"].(float64)
		}
	}
	if wantDepth["r|queue|jobs"] != 7 || wantDepth["n|stream|SERVE"] != 9 || wantDepth["k|topic|orders.DLT"] != 2 {
		t.Fatalf("ls: %v", wantDepth)
	}

	port := testenv.ClosedPort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := c.command(ctx, "serve", "-v", "-c", "k,n,r", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--interval", "300ms", "--timeout", "3s")
	var stdout, stderr syncBuffer
	srv.Stdout, srv.Stderr = &stdout, &stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = srv.Process.Kill()
			<-exited
		}
	}()

	// Ready once every context answered; the served lag equals lag's.
	var ready string
	for deadline := time.Now().Add(60 * time.Second); ; {
		code, body := httpGet(t, base+"/readyz")
		if code == http.StatusOK {
			ready = body
			series := scrapeMetrics(t, base)
			got, gotDead := servedLag(series), servedDead(series)
			depth, consumers := servedFamily(series, "mqctl_destination_messages"), servedFamily(series, "mqctl_destination_consumers")
			written := servedFamily(series, "mqctl_destination_written_messages_total")
			// RabbitMQ's cumulative counts: 7 and 3 published, none
			// delivered or acked yet (0, not absent).
			published, delivered := servedQueueCounter(series, "published"), servedQueueCounter(series, "delivered")
			_, deliveredKnown := delivered["r|jobs"]
			if maps.Equal(got, want) && maps.Equal(gotDead, wantDead) && maps.Equal(depth, wantDepth) && maps.Equal(consumers, wantConsumers) &&
				written["k|topic|orders.DLT"] == 2 && written["n|stream|SERVE"] == 9 &&
				published["r|jobs"] == 7 && published["r|jobs.dlq"] == 3 && deliveredKnown && delivered["r|jobs"] == 0 {
				if _, ok := written["r|queue|jobs"]; ok {
					t.Errorf("a queue exports messages written: %v", written)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("served lag %v, want lag -o json's %v\nserved dead letters %v, want dlq ls's %v\nserved depth %v, want ls's %v\nconsumers %v, want %v\nwritten %v\npublished %v, delivered %v",
					got, want, gotDead, wantDead, depth, wantDepth, consumers, wantConsumers, written, published, delivered)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never 200: %d %s\nstderr: %s", code, body, stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	var readiness struct {
		Status   string
		Contexts map[string]struct {
			Status string
			Rows   int
			Error  string
		}
	}
	if err := json.Unmarshal([]byte(ready), &readiness); err != nil || readiness.Status != "UP" ||
		readiness.Contexts["k"].Rows != 3 || readiness.Contexts["n"].Status != "UP" || readiness.Contexts["r"].Status != "UP" {
		t.Fatalf("/readyz body %s (%v)", ready, err)
	}
	if code, _ := httpGet(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz %d", code)
	}

	natsPort := n.Server().Addr().(*net.TCPAddr).Port
	n.Server().Shutdown()
	n.Server().WaitForShutdown()
	var series []promSeries
	for deadline := time.Now().Add(60 * time.Second); ; {
		series = scrapeMetrics(t, base)
		up := upOf(series)
		if up["n"] == 0 && up["k"] == 1 && up["r"] == 1 && len(up) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after NATS stopped: up %v, want n 0, k and r 1", up)
		}
		time.Sleep(200 * time.Millisecond)
	}
	contexts := map[string]bool{}
	for _, s := range series {
		if strings.HasPrefix(s.name, "mqctl_") && s.labels["broker"] != "" {
			contexts[s.labels["context"]] = true
			if s.labels["context"] == "n" {
				t.Errorf("context n is down but exports %s %v", s.name, s.labels)
			}
		}
	}
	if !contexts["k"] || !contexts["r"] {
		t.Errorf("the contexts still up lost their series: %v", slices.Sorted(maps.Keys(contexts)))
	}
	gotK := servedLag(series)
	if gotK["k|billing|orders|0|||"] != 6 || gotK["r||||jobs||"] != 7 {
		t.Errorf("lag of the contexts still up: %v", gotK)
	}
	if gotDead := servedDead(series); !maps.Equal(gotDead, wantDead) {
		t.Errorf("dead letters of the contexts still up: %v, want %v", gotDead, wantDead)
	}
	code, body := httpGet(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"error"`) {
		t.Errorf("/readyz with NATS down: %d %s", code, body)
	}

	// The broker comes back on the same port and store: the context is
	// up again with its lag, and /readyz 200.
	testenv.NATS(t, sandbox.NATSOptions{Port: natsPort, StoreDir: natsDir})
	for deadline := time.Now().Add(60 * time.Second); ; {
		series = scrapeMetrics(t, base)
		code, _ := httpGet(t, base+"/readyz")
		if upOf(series)["n"] == 1 && servedLag(series)["n|||||SERVE|worker"] == 9 && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after NATS restarted: up %v, lag %v, /readyz %d", upOf(series), servedLag(series), code)
		}
		time.Sleep(200 * time.Millisecond)
	}

	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("serve after SIGTERM: %v; stderr %s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s of SIGTERM")
	}
	if stdout.String() != "" {
		t.Errorf("serve wrote to stdout: %q", stdout.String())
	}
	log := stderr.String()
	if strings.Count(log, "warning: context n: ") != 1 || strings.Count(log, "context n answers again") != 1 {
		t.Errorf("stderr does not say once that context n failed and once that it answers again: %s", log)
	}
	if password != "" && strings.Contains(log, ":"+password+"@") {
		t.Errorf("stderr shows a password: %s", log)
	}
}

// A target given by --url alone is labelled context="default", --time-lag
// exports the age of the oldest waiting record, and a --listen address
// that is taken is a usage error on one line.
func TestServeBareURLIsDefault(t *testing.T) {
	k, _ := lagGroup(t)
	c := newCLI(t)
	port := testenv.ClosedPort(t)
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, stderr, exited := startServe(t, c, ctx, "http://"+listen+"/readyz", "--url", k.URL, "--listen", listen, "--interval", "200ms", "--time-lag")
	series := scrapeMetrics(t, "http://"+listen)
	if up := upOf(series); up["default"] != 1 || len(up) != 1 {
		t.Errorf("up %v, want default 1", up)
	}
	if got := servedLag(series); got["default|billing|orders|1|||"] != 3 {
		t.Errorf("served lag %v", got)
	}
	// --time-lag: the partitions that lag have an age, the one caught up none.
	ages := map[string]float64{}
	for _, s := range series {
		if s.name == "mqctl_lag_seconds" {
			ages[s.labels["partition"]] = s.value
		}
	}
	if ages["0"] <= 0 || ages["1"] <= 0 || len(ages) != 2 {
		t.Errorf("mqctl_lag_seconds per partition %v, want partitions 0 and 1 above 0", ages)
	}
	expectError(t, c.run("serve", "--url", k.URL, "--listen", listen), 2, "address already in use")

	if err := srv.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Errorf("serve after SIGINT: %v; stderr %s", err, stderr.String())
	}
}

// A stop does not wait for a poll that hangs: the first poll of a Kafka
// address that accepts and never answers lasts its whole --timeout (the
// dial does not heed cancellation), and SIGTERM still stops serve with
// exit 0 long before that.
func TestServeStopsWhileAPollHangs(t *testing.T) {
	c := newCLI(t)
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.ClosedPort(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const pollTimeout = 10 * time.Minute
	srv, stderr, exited := startServe(t, c, ctx, "http://"+listen+"/healthz", "--url", fmt.Sprintf("kafka://127.0.0.1:%d", testenv.SilentPort(t)),
		"--listen", listen, "--timeout", pollTimeout.String())
	if code, body := httpGet(t, "http://"+listen+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not polled yet") {
		t.Fatalf("/readyz while the first poll hangs: %d %s", code, body)
	}
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("serve after SIGTERM: %v; stderr %s", err, stderr.String())
		}
	case <-time.After(testenv.Deadline(30 * time.Second)):
		t.Fatalf("serve still waits on the hung poll after SIGTERM (its timeout is %s); stderr %s", pollTimeout, stderr.String())
	}
}
