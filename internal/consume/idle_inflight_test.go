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

	"github.com/mqctl/mqctl/internal/broker"
)

// TestExecIdleWaitsWhileLanesHoldBacklogKafka: a slow --exec handler on
// a Kafka backlog with --idle-timeout shorter than the handler: the lane
// fills, the partition's fetching is paused and the dispatcher polls with
// nothing coming, but --idle-timeout does not end the run while
// deliveries wait in a lane or a handler runs; every record is handled.
func TestExecIdleWaitsWhileLanesHoldBacklogKafka(t *testing.T) {
	const n = 300
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	o := ordersTopic(t, 1)
	o.produce(t, ctx, 0, n)
	c := openConsumer(t, ctx, o.open(t, ctx), broker.ConsumerOptions{Sources: []string{"orders"}, Group: "billing", Prefetch: 10})
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
