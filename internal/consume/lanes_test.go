package consume

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
)

// TestExecSlowPartitionHoldsUpNoOtherKafka: the handler of partition 0
// is stuck; the records of partition 1, produced only then, are all
// handled meanwhile. Partition 0 is read no further than its lane and
// one poll (its fetching paused), and once released every record of it
// is handled, in order, and both partitions are committed.
func TestExecSlowPartitionHoldsUpNoOtherKafka(t *testing.T) {
	const n0, n1, prefetch = 100, 10, 10
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	o := ordersTopic(t, 2)
	o.produce(t, ctx, 0, n0)
	c := openConsumer(t, ctx, o.open(t, ctx), broker.ConsumerOptions{Sources: []string{"orders"}, Group: "billing", Prefetch: prefetch})
	dir := t.TempDir()
	handler := `cat >/dev/null; echo "$MQ_PARTITION $MQ_OFFSET" >>` + dir + `/ran; ` +
		`if [ "$MQ_PARTITION" = 0 ]; then while [ ! -e ` + dir + `/release ]; do sleep 0.05; done; fi`
	st := &Stats{}
	ran := make(chan error, 1)
	go func() {
		ran <- Run(ctx, c, io.Discard, st, Options{
			Broker: "kafka", Concurrency: 2, Count: n0 + n1,
			Exec: &Exec{Command: handler, Broker: "kafka", Stdout: io.Discard, Stderr: io.Discard},
		})
	}()
	handled := func() map[int32][]int64 {
		b, err := os.ReadFile(filepath.Join(dir, "ran"))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		got := map[int32][]int64{}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var p int32
			var o int64
			if _, err := fmt.Sscan(l, &p, &o); err == nil {
				got[p] = append(got[p], o)
			}
		}
		return got
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for !ok() {
			select {
			case err := <-ran:
				t.Fatalf("Run = %v before %s", err, what)
			case <-ctx.Done():
				t.Fatalf("%s: not within the test's time; handled %v, read %d", what, handled(), st.Read.Load())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	waitFor("partition 0's first handler started", func() bool { return len(handled()[0]) == 1 && st.Read.Load() > 1 })
	o.produce(t, ctx, 1, n1)
	waitFor("partition 1 handled while partition 0's handler is stuck", func() bool { return len(handled()[1]) == n1 })
	if got := handled()[0]; len(got) != 1 {
		t.Fatalf("partition 0 handled %v before its release", got)
	}
	if read0 := st.Read.Load() - n1; read0 > laneMax+prefetch+1 {
		t.Errorf("%d records of the stuck partition 0 were read; at most %d (its lane, one poll and the one running)", read0, laneMax+prefetch+1)
	}
	if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ran:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-ctx.Done():
		t.Fatalf("Run did not end after the release; handled %d", st.Handled.Load())
	}
	got := handled()
	for p, n := range map[int32]int{0: n0, 1: n1} {
		if len(got[p]) != n {
			t.Errorf("partition %d: handled %d records, want %d", p, len(got[p]), n)
			continue
		}
		for i, o := range got[p] {
			if o != int64(i) {
				t.Errorf("partition %d handled in the order %v, want 0 to %d", p, got[p], n-1)
				break
			}
		}
	}
	if c := o.committed(t, "billing"); c[0] != n0 || c[1] != n1 {
		t.Errorf("group billing committed %v, want %d and %d", c, n0, n1)
	}
}
