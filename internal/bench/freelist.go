package bench

import "sync"

// freeList hands a producer's settled slots back to it. done callbacks
// put slots one at a time, from the driver's goroutines; the producer
// takes all that are free at once and then uses them without a lock. A
// channel of slots cost a channel operation on each side per message,
// contending for the channel's lock: 21% of bench pub --core's CPU
// (profile of 6M messages, December 2026).
type freeList struct {
	mu   sync.Mutex
	free []*slot
	// waiting: the producer found nothing free and waits on wake; the
	// next put signals it.
	waiting bool
	wake    chan struct{}
}

func newFreeList(n int) *freeList {
	return &freeList{free: make([]*slot, 0, n), wake: make(chan struct{}, 1)}
}

func (f *freeList) put(s *slot) {
	f.mu.Lock()
	f.free = append(f.free, s)
	w := f.waiting
	f.waiting = false
	f.mu.Unlock()
	if w {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
}

// take swaps the producer's emptied slice for every free slot. When none
// is free it returns an empty slice, and a put afterwards signals wake.
func (f *freeList) take(mine []*slot) []*slot {
	f.mu.Lock()
	mine, f.free = f.free, mine[:0]
	f.waiting = len(mine) == 0
	f.mu.Unlock()
	return mine
}

// next returns a free slot, taking more from f when mine is empty and
// waiting for one while none is free; nil when done closes first.
func (f *freeList) next(mine *[]*slot, done <-chan struct{}) *slot {
	for len(*mine) == 0 {
		if *mine = f.take(*mine); len(*mine) > 0 {
			break
		}
		select {
		case <-done:
			return nil
		case <-f.wake:
		}
	}
	s := (*mine)[len(*mine)-1]
	*mine = (*mine)[:len(*mine)-1]
	return s
}
