package inflight

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// waitFor yields until cond holds: the tests wait for an event (a
// goroutine asleep in Acquire), never for a duration.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i > 10_000_000 {
			t.Fatalf("never happened: %s", what)
		}
		runtime.Gosched()
	}
}

// acquireAsync starts an Acquire and returns where its result arrives.
func acquireAsync(ctx context.Context, w *Window) <-chan error {
	res := make(chan error, 1)
	go func() { res <- w.Acquire(ctx) }()
	return res
}

func mustNotHaveReturned(t *testing.T, res <-chan error, what string) {
	t.Helper()
	select {
	case err := <-res:
		t.Fatalf("%s returned (%v) while the window was full", what, err)
	default:
	}
}

func TestAcquireUpToSize(t *testing.T) {
	w := New(3)
	ctx := context.Background()
	for i := range 3 {
		if err := w.Acquire(ctx); err != nil {
			t.Fatalf("Acquire %d: %v", i, err)
		}
	}
	if got := w.InUse(); got != 3 {
		t.Fatalf("InUse = %d, want 3", got)
	}
	res := acquireAsync(ctx, w)
	waitFor(t, "the fourth Acquire sleeps", func() bool { return w.Sleeping() == 1 })
	mustNotHaveReturned(t, res, "the fourth Acquire")
	w.Release(1)
	if err := <-res; err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	if got := w.InUse(); got != 3 {
		t.Fatalf("InUse = %d, want 3", got)
	}
}

// TestReleaseOfSeveralWakesSeveral: one Release of n slots wakes one
// sleeper, which passes the wake on to the next.
func TestReleaseOfSeveralWakesSeveral(t *testing.T) {
	const size = 4
	w := New(size)
	ctx := context.Background()
	for range size {
		if err := w.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	results := make([]<-chan error, size)
	for i := range results {
		results[i] = acquireAsync(ctx, w)
	}
	waitFor(t, "every Acquire sleeps", func() bool { return w.Sleeping() == size })
	w.Release(size)
	for i, res := range results {
		if err := <-res; err != nil {
			t.Fatalf("Acquire %d: %v", i, err)
		}
	}
}

func TestAcquireCancelled(t *testing.T) {
	w := New(1)
	if err := w.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	res := acquireAsync(ctx, w)
	waitFor(t, "the Acquire sleeps", func() bool { return w.Sleeping() == 1 })
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire = %v, want context.Canceled", err)
	}
	if got := w.InUse(); got != 1 {
		t.Fatalf("InUse after a cancelled Acquire = %d, want 1", got)
	}
	if err := w.Acquire(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire with an ended ctx = %v, want context.Canceled", err)
	}
}

func TestClose(t *testing.T) {
	w := New(1)
	ctx := context.Background()
	if err := w.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	res := acquireAsync(ctx, w)
	waitFor(t, "the Acquire sleeps", func() bool { return w.Sleeping() == 1 })
	w.Close()
	if err := <-res; !errors.Is(err, ErrClosed) {
		t.Fatalf("sleeping Acquire after Close = %v, want ErrClosed", err)
	}
	w.Release(1)
	if err := w.Acquire(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Acquire after Close, with room = %v, want ErrClosed", err)
	}
	w.Close() // twice is fine
	if err := w.Wait(ctx); err != nil {
		t.Fatalf("Wait on an empty closed window: %v", err)
	}
}

func TestWait(t *testing.T) {
	w := New(8)
	ctx := context.Background()
	if err := w.Wait(ctx); err != nil {
		t.Fatalf("Wait on an empty window: %v", err)
	}
	for range 3 {
		if err := w.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waited := make(chan error, 2)
	for range 2 {
		go func() { waited <- w.Wait(ctx) }()
	}
	waitFor(t, "both Waits registered", func() bool { return w.waiting.Load() == 2 })
	w.Release(2)
	select {
	case err := <-waited:
		t.Fatalf("Wait returned (%v) with a slot still taken", err)
	default:
	}
	w.Release(1)
	for range 2 {
		if err := <-waited; err != nil {
			t.Fatalf("Wait: %v", err)
		}
	}

	if err := w.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithCancel(ctx)
	cancel()
	if err := w.Wait(short); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with an ended ctx = %v, want context.Canceled", err)
	}
	// The abandoned Wait does not stop the next one from returning.
	w.Release(1)
	if err := w.Wait(ctx); err != nil {
		t.Fatalf("Wait: %v", err)
	}
}

// TestWaitWithASleepingAcquire: an Acquire asleep on a full window holds
// no slot, so Wait does not wait for it to sleep, but once it took a slot
// Wait waits for its release too; either way Wait returns when the window
// empties (a failed attempt's give-back can be what empties it).
func TestWaitWithASleepingAcquire(t *testing.T) {
	w := New(1)
	ctx := context.Background()
	if err := w.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	res := acquireAsync(ctx, w)
	waitFor(t, "the Acquire sleeps", func() bool { return w.Sleeping() == 1 })
	waited := make(chan error, 1)
	go func() { waited <- w.Wait(ctx) }()
	waitFor(t, "the Wait registered", func() bool { return w.waiting.Load() == 1 })
	w.Release(1)
	if err := <-res; err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	// The sleeper's slot may be taken before or after the window emptied;
	// a Wait still registered must return after its release.
	w.Release(1)
	if err := <-waited; err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if got := w.InUse(); got != 0 {
		t.Fatalf("InUse at the end = %d", got)
	}
}

func TestNewPanicsOnZero(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("New(0) did not panic")
		}
	}()
	New(0)
}

// TestConcurrent runs publishers and a settler as a producer does, and
// checks that no more than size messages are ever in flight, that every
// Acquire gets its slot, and that Wait returns after the last release.
func TestConcurrent(t *testing.T) {
	const size, publishers, each = 16, 4, 2000
	w := New(size)
	ctx := context.Background()
	var inFlight, peak atomic.Int64
	sent := make(chan struct{}, publishers*each)
	var settled atomic.Int64
	settlerDone := make(chan struct{})
	go func() {
		defer close(settlerDone)
		for range publishers * each {
			<-sent
			inFlight.Add(-1)
			settled.Add(1)
			w.Release(1)
		}
	}()
	var wg sync.WaitGroup
	for range publishers {
		wg.Go(func() {
			for range each {
				if err := w.Acquire(ctx); err != nil {
					t.Error(err)
					return
				}
				n := inFlight.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				sent <- struct{}{}
			}
		})
	}
	wg.Wait()
	if err := w.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if got := settled.Load(); got != publishers*each {
		t.Fatalf("Wait returned after %d of %d releases", got, publishers*each)
	}
	<-settlerDone
	if p := peak.Load(); p > size {
		t.Fatalf("%d messages in flight at once, window is %d", p, size)
	}
	if got := w.InUse(); got != 0 {
		t.Fatalf("InUse at the end = %d", got)
	}
}

func BenchmarkAcquireRelease(b *testing.B) {
	w := New(1024)
	ctx := context.Background()
	for range b.N {
		if err := w.Acquire(ctx); err != nil {
			b.Fatal(err)
		}
		w.Release(1)
	}
}
