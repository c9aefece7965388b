package bench

import "sync"

// bitset is a growable set of sequence numbers of one producer.
type bitset struct{ w []uint64 }

// set adds seq and says whether it was there already.
func (b *bitset) set(seq uint64) (had bool) {
	i := seq / 64
	for uint64(len(b.w)) <= i {
		b.w = append(b.w, 0)
	}
	m := uint64(1) << (seq % 64)
	had = b.w[i]&m != 0
	b.w[i] |= m
	return had
}

// tracker records, per producer, which sequences were confirmed and which
// received.
type tracker struct {
	mu        sync.Mutex
	confirmed []bitset
	received  []bitset
}

func newTracker(producers int) *tracker {
	return &tracker{confirmed: make([]bitset, producers), received: make([]bitset, producers)}
}

func (t *tracker) confirm(p uint32, seq uint64) {
	t.mu.Lock()
	t.confirmed[p].set(seq)
	t.mu.Unlock()
}

// receive records a delivery and says whether it is a duplicate; ok is
// false for a producer id outside the run.
func (t *tracker) receive(p uint32, seq uint64) (dup, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if int(p) >= len(t.received) {
		return false, false
	}
	return t.received[p].set(seq), true
}

// lost counts sequences confirmed but never received.
func (t *tracker) lost() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n int64
	for p := range t.confirmed {
		c, r := t.confirmed[p].w, t.received[p].w
		for i, w := range c {
			if i < len(r) {
				w &^= r[i]
			}
			for ; w != 0; w &= w - 1 {
				n++
			}
		}
	}
	return n
}
