package bench

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFreeListHandsOutOnlyFreeSlots: slots settled in any order by
// several goroutines come back to the producer, none is handed out while
// still in use, and a producer waiting for one wakes when it is put.
func TestFreeListHandsOutOnlyFreeSlots(t *testing.T) {
	const n, rounds, settlers = 8, 20000, 3
	ring := make([]slot, n)
	inUse := make([]atomic.Bool, n)
	f := newFreeList(n)
	for i := range ring {
		ring[i].seq = uint64(i)
		f.put(&ring[i])
	}
	work := make(chan *slot, n)
	var wg sync.WaitGroup
	for range settlers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				inUse[s.seq].Store(false)
				f.put(s)
			}
		}()
	}
	done := make(chan struct{})
	var mine []*slot
	var err string
	produced := make(chan struct{})
	go func() { // the producer
		defer close(produced)
		defer close(work)
		for range rounds {
			s := f.next(&mine, done)
			if s == nil {
				err = "next returned no slot while done is open"
				return
			}
			if inUse[s.seq].Swap(true) {
				err = fmt.Sprintf("slot %d handed out while still in use", s.seq)
				return
			}
			work <- s
		}
	}()
	select {
	case <-produced:
	case <-time.After(30 * time.Second):
		close(done) // a put that did not wake the waiting producer
		<-produced
		t.Fatal("the producer still waited for a free slot 30 s later")
	}
	if err != "" {
		t.Fatal(err)
	}
	wg.Wait()
	if got := len(mine) + len(f.take(nil)); got != n {
		t.Errorf("%d slots free at the end, want all %d", got, n)
	}
}

// TestFreeListWaitEndsWithDone: with nothing free, next waits, and returns
// nil once done closes; a slot put while it waits wakes it instead.
func TestFreeListWaitEndsWithDone(t *testing.T) {
	f := newFreeList(1)
	var mine []*slot
	done := make(chan struct{})
	var s slot
	go func() {
		time.Sleep(20 * time.Millisecond)
		f.put(&s)
	}()
	if got := nextWithin(t, f, &mine, done); got != &s {
		t.Fatalf("next returned %p, want the slot put while it waited", got)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		close(done)
	}()
	if got := nextWithin(t, f, &mine, done); got != nil {
		t.Fatalf("next returned %p after done, want nil", got)
	}
}

// nextWithin fails t when next has not returned within 5 s: a put or a
// done that did not wake it.
func nextWithin(t *testing.T, f *freeList, mine *[]*slot, done chan struct{}) *slot {
	t.Helper()
	got := make(chan *slot, 1)
	go func() { got <- f.next(mine, done) }()
	select {
	case s := <-got:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("next still waits 5 s later")
		return nil
	}
}
