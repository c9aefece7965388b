package consume

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// TestExecIdleWaitsWhileLanesHoldBacklogKafka: a slow --exec handler on
// a Kafka backlog with --idle-timeout shorter than the handler: the lane
// fills, the partition's fetching is paused and the dispatcher polls with
// nothing coming, but --idle-timeout does not end the run while
// deliveries wait in a lane or a handler runs; every record is handled.
func TestExecIdleWaitsWhileLanesHoldBacklogKafka(t *testing.T) {
	const n = 300
	k := testenv.Kafka(t, sandbox.KafkaOptions{Extra: []kfake.Opt{kfake.SeedTopics(1, "orders")}})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: fmt.Appendf(nil, "m%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := broker.Open(ctx, broker.Target{URL: k.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sub, _ := broker.As[broker.Subscriber](conn, "consuming")
	c, err := sub.NewConsumer(ctx, broker.ConsumerOptions{Sources: []string{"orders"}, Group: "billing", Prefetch: 10})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	handler := `cat >/dev/null; while [ ! -e ` + dir + `/release ]; do sleep 0.05; done`
	var mu sync.Mutex
	var logs []string
	st := &Stats{}
	ran := make(chan error, 1)
	go func() {
		ran <- Run(ctx, c, io.Discard, st, Options{
			Broker: "kafka", Concurrency: 1, IdleTimeout: time.Second,
			Logf: func(f string, a ...any) { mu.Lock(); logs = append(logs, fmt.Sprintf(f, a...)); mu.Unlock() },
			Exec: &Exec{Command: handler, Broker: "kafka", Stdout: io.Discard, Stderr: io.Discard},
		})
	}()
	// Give --idle a few times its length to fire while the handler is stuck.
	for i := 0; i < 50; i++ {
		mu.Lock()
		fired := strings.Contains(strings.Join(logs, "\n"), "no message for")
		mu.Unlock()
		if fired {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	os.WriteFile(filepath.Join(dir, "release"), nil, 0o644)
	if err := <-ran; err != nil {
		t.Fatalf("Run = %v", err)
	}
	t.Logf("logs: %q", logs)
	if h := st.Handled.Load(); h != n {
		t.Errorf("handled %d of %d records in the partition, read %d: --idle ended the run while a backlog waited behind the paused fetch", h, n, st.Read.Load())
	}
}
