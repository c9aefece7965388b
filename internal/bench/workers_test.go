package bench

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// cluster is a participant's view of url: a connection of its own, as a
// process on another host would have.
func cluster(t *testing.T, url, control string, core bool) Cluster {
	conn := open(t, url)
	return Cluster{Broker: conn.Broker(), Control: control, Publisher: conn.(broker.Publisher),
		Subscriber: conn.(broker.Subscriber), Dests: conn.(broker.BenchDestinations),
		ConfirmTimeout: 10 * time.Second, Logf: t.Logf, Core: core}
}

type workerOut struct {
	res *Result
	err error
}

// startWorkers runs n workers in goroutines; wait returns their outcomes.
func startWorkers(t *testing.T, url, control string, n int, core bool) (wait func() []workerOut) {
	out := make([]workerOut, n)
	var wg sync.WaitGroup
	for i := range n {
		c := cluster(t, url, control, core)
		wg.Go(func() {
			res, _, err := Work(context.Background(), c, WorkOptions{Host: "w", JoinTimeout: 30 * time.Second})
			out[i] = workerOut{res, err}
		})
	}
	return func() []workerOut { wg.Wait(); return out }
}

// checkMerged: the total is the sum of the workers' rows, histograms
// included, and the workload's count was split over them.
func checkMerged(t *testing.T, d *Distributed, count int64, lossOK bool) {
	t.Helper()
	if len(d.Workers) != 3 || d.Missing != 0 || d.Failed != 0 {
		t.Fatalf("workers %+v", d.Workers)
	}
	var sent, confirmed, received int64
	lat := map[string]int64{}
	for _, w := range d.Workers {
		if w.Status != WorkerOK || w.Summary == nil || w.Summary.Sent == 0 {
			t.Fatalf("worker %+v", w)
		}
		sent += w.Summary.Sent
		confirmed += w.Summary.Confirmed
		received += w.Summary.Received
		for _, l := range w.Summary.Latency {
			lat[l.Name] += l.Count
		}
	}
	tot := d.Total
	if tot.Sent != sent || tot.Confirmed != confirmed || tot.Received != received || tot.Sent != count || (tot.Lost != 0 && !lossOK) {
		t.Errorf("total %d/%d/%d, workers' sum %d/%d/%d, want %d sent", tot.Sent, tot.Confirmed, tot.Received, sent, confirmed, received, count)
	}
	if len(tot.Latency) != len(lat) || len(lat) < 2 { // the workers' histograms, merged
		t.Fatalf("total latencies %+v", tot.Latency)
	}
	for _, l := range tot.Latency {
		if l.Count != lat[l.Name] || l.Count == 0 {
			t.Errorf("%s: merged count %d, workers' sum %d", l.Name, l.Count, lat[l.Name])
		}
	}
}

func leadAndWork(t *testing.T, url string, k Knobs) {
	control := testenv.UniqueName(t, "mqctl-bench-control")
	wait := startWorkers(t, url, control, 3, k.Core)
	w := Workload{Mode: "e2e", Producers: 2, Consumers: 1, Size: 100, Count: 3001, InFlight: 64}
	d, err := Lead(context.Background(), cluster(t, url, control, k.Core), LeadOptions{Workers: 3, JoinTimeout: 30 * time.Second, Workload: w, Knobs: k})
	outs := wait()
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range outs {
		if o.err != nil || o.res == nil {
			t.Fatalf("worker %d: %v", i, o.err)
		}
	}
	checkMerged(t, d, 3001, k.Core) // core NATS may drop for a slow consumer
}

// TestDistributedJetStream: three workers and a leader on one JetStream
// server, each with its own connection.
func TestDistributedJetStream(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	leadAndWork(t, srv.URL, Knobs{})
}

// TestDistributedCoreNATS: the control channel over core NATS, where a
// message nobody subscribed to yet is gone: the handshake resends.
func TestDistributedCoreNATS(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	leadAndWork(t, srv.URL, Knobs{Core: true})
}

func TestDistributedKafka(t *testing.T) {
	k := testenv.Kafka(t, sandbox.KafkaOptions{})
	leadAndWork(t, k.URL, Knobs{Partitions: 2})
}

// TestDistributedJoinTimeout: one worker of two joins: the leader's error
// says so, and the worker that joined is told the run is off.
func TestDistributedJoinTimeout(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	control := testenv.UniqueName(t, "mqctl-bench-control")
	wait := startWorkers(t, srv.URL, control, 1, false)
	_, err := Lead(context.Background(), cluster(t, srv.URL, control, false), LeadOptions{Workers: 2, JoinTimeout: 3 * time.Second,
		Workload: Workload{Mode: "e2e", Producers: 1, Consumers: 1, Size: 100, Count: 10, InFlight: 8}})
	if !errors.Is(err, ErrJoin) || !strings.Contains(err.Error(), "1 of 2") {
		t.Errorf("leader: %v", err)
	}
	if o := wait()[0]; o.err == nil || !strings.Contains(o.err.Error(), "gave up") {
		t.Errorf("worker: %v", o.err)
	}
}

// TestDistributedRabbitMQ: a queue gives each message to one reader, so
// every participant reads an inbox of its own.
func TestDistributedRabbitMQ(t *testing.T) {
	leadAndWork(t, testenv.RabbitMQ(t).AMQPURL, Knobs{})
}

// TestDistributedLeaderInterrupted: Ctrl-C on the leader mid-run stops
// every worker; their results so far are still merged.
func TestDistributedLeaderInterrupted(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	control := testenv.UniqueName(t, "mqctl-bench-control")
	wait := startWorkers(t, srv.URL, control, 3, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lc := cluster(t, srv.URL, control, false)
	lc.Logf = func(format string, args ...any) {
		if strings.HasPrefix(format, "worker %s (%s) joined") && args[2] == args[3] {
			time.AfterFunc(2500*time.Millisecond, cancel) // the run starts a second after the join
		}
	}
	var progressed int64
	d, err := Lead(ctx, lc, LeadOptions{Workers: 3, JoinTimeout: 30 * time.Second,
		Workload: Workload{Mode: "e2e", Producers: 1, Consumers: 1, Size: 100, Duration: time.Minute, Rate: 300, InFlight: 16},
		Progress: func(sent, _ int64, _ int) { progressed = max(progressed, sent) }})
	outs := wait()
	if err != nil {
		t.Fatal(err)
	}
	if !d.Total.Interrupted || d.Total.Sent == 0 || d.Total.Lost != 0 {
		t.Errorf("total %+v", d.Total)
	}
	checkMerged(t, d, d.Total.Sent, false)
	if progressed == 0 || progressed > d.Total.Sent {
		t.Errorf("progress showed %d sent, the total is %d", progressed, d.Total.Sent)
	}
	for i, o := range outs {
		if o.err != nil || o.res == nil || !o.res.Interrupted {
			t.Errorf("worker %d: %v %+v", i, o.err, o.res)
		}
	}
}

// TestDistributedStaleControl: a control destination left by a killed
// leader, holding a dead worker's hello and ready, is read as it is; the
// handshake keeps the dead worker out.
func TestDistributedStaleControl(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	control := testenv.UniqueName(t, "mqctl-bench-control")
	c := cluster(t, srv.URL, control, false)
	d, _, _, err := c.plan(control)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Dests.CreateBenchDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	s, err := c.sender(ctx, control)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []controlMsg{
		{Type: msgHello, Worker: "dead", Host: "gone", Inbox: control + "-dead"},
		{Type: msgReady, Worker: "dead", Host: "gone", Run: "old"},
	} {
		if err := s.send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	s.close()
	wait := startWorkers(t, srv.URL, control, 1, false)
	res, err := Lead(ctx, c, LeadOptions{Workers: 1, JoinTimeout: 30 * time.Second,
		Workload: Workload{Mode: "e2e", Producers: 1, Consumers: 1, Size: 100, Count: 100, InFlight: 16}})
	wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Workers) != 1 || res.Workers[0].Host != "w" || res.Workers[0].Status != WorkerOK || res.Total.Received != 100 {
		t.Errorf("workers %+v total %+v", res.Workers, res.Total)
	}
}

// handWorker speaks the protocol step by step and answers start with
// failed, as a worker that cannot run its share does.
func handWorker(t *testing.T, c Cluster) chan error {
	errc := make(chan error, 1)
	ctx := context.Background()
	inbox, err := c.openMailbox(ctx, c.control()+"-hand", false)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer inbox.close()
		var s *sender
		for s == nil {
			s, _ = c.sender(ctx, c.control())
			time.Sleep(100 * time.Millisecond)
		}
		defer s.close()
		s.post(ctx, controlMsg{Type: msgHello, Worker: "hand", Host: "h", Inbox: c.control() + "-hand"})
		for m := range inbox.msgs {
			switch m.Type {
			case msgWelcome:
				s.post(ctx, controlMsg{Type: msgReady, Worker: "hand", Host: "h", Run: m.Run})
			case msgStart:
				errc <- s.send(ctx, controlMsg{Type: msgFailed, Worker: "hand", Run: m.Run, Error: "no disk"})
				return
			}
		}
	}()
	return errc
}

// TestDistributedWorkerFailed: a worker that says it failed is reported
// with its reason; the others' results are the total.
func TestDistributedWorkerFailed(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	control := testenv.UniqueName(t, "mqctl-bench-control")
	c := cluster(t, srv.URL, control, false)
	failed := handWorker(t, cluster(t, srv.URL, control, false))
	wait := startWorkers(t, srv.URL, control, 2, false)
	d, err := Lead(context.Background(), c, LeadOptions{Workers: 3, JoinTimeout: 30 * time.Second,
		Workload: Workload{Mode: "e2e", Producers: 1, Consumers: 1, Size: 100, Count: 300, InFlight: 16}})
	wait()
	if err != nil {
		t.Fatal(err)
	}
	if err := <-failed; err != nil {
		t.Fatal(err)
	}
	var ok int64
	for _, w := range d.Workers {
		switch {
		case w.ID == "hand" && (w.Status != WorkerFailed || w.Error != "no disk"):
			t.Errorf("hand worker %+v", w)
		case w.ID != "hand" && w.Status == WorkerOK:
			ok += w.Summary.Received
		}
	}
	if d.Failed != 1 || d.Missing != 0 || ok != 200 || d.Total.Received != 200 {
		t.Errorf("failed %d missing %d, workers received %d, total %+v", d.Failed, d.Missing, ok, d.Total)
	}
}
