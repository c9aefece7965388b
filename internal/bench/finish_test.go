package bench

import (
	"testing"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
)

// A confirm that says when it came (a core NATS flush settling a batch)
// is timed from then, not from when its done callback got to run.
func TestFinishTimesConfirmFromReceipt(t *testing.T) {
	start := time.Now().Add(-time.Hour)
	ps := &producerState{start: start, c: &counters{}, confirmH: newLockedHist(), free: newFreeList(2), noteErr: func(error) {}}
	s := &slot{owner: ps, from: 10 * time.Millisecond}
	s.finish(broker.Receipt{At: start.Add(35 * time.Millisecond)}, nil)
	ps.free.take(nil)
	got := ps.confirmH.cur.Max()
	if got < 24975 || got > 25025 { // 3 significant digits
		t.Fatalf("confirm latency %d µs, want 25000 (the receipt's time minus the send time)", got)
	}
	// Without a time in the receipt the clock is read: about an hour.
	s.finish(broker.Receipt{}, nil)
	ps.free.take(nil)
	if got := ps.confirmH.cur.Max(); got < int64(59*time.Minute/time.Microsecond) {
		t.Fatalf("confirm latency %d µs without a receipt time, want the clock's (about an hour)", got)
	}
	if n := ps.c.confirmed.Load(); n != 2 {
		t.Fatalf("confirmed %d, want 2", n)
	}
}
