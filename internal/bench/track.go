package bench

import (
	"math"
	"sync"
)

// bitset is a set of sequence numbers of one producer: bit s%64 of w[i]
// is sequence (base+i)*64 + s%64. It holds the span from the lowest
// sequence set to the highest, one bit each (10M sequences: 1.25 MiB),
// grows either way, and can drop its lowest words (trim).
type bitset struct {
	base uint64 // word index of w[0]
	w    []uint64
}

// set adds seq and says whether it was there already.
func (b *bitset) set(seq uint64) (had bool) {
	i := seq / 64
	switch {
	case len(b.w) == 0:
		b.base = i
	case i < b.base:
		grown := make([]uint64, b.base-i+uint64(len(b.w)), b.base-i+uint64(cap(b.w)))
		copy(grown[b.base-i:], b.w)
		b.w, b.base = grown, i
	}
	for uint64(len(b.w)) <= i-b.base {
		b.w = append(b.w, 0)
	}
	m := uint64(1) << (seq % 64)
	had = b.w[i-b.base]&m != 0
	b.w[i-b.base] |= m
	return had
}

// wordsWith is how many words the set would hold with seq added.
func (b *bitset) wordsWith(seq uint64) uint64 {
	i, n := seq/64, uint64(len(b.w))
	switch {
	case n == 0:
		return 1
	case i < b.base:
		return b.base - i + n
	case i-b.base >= n:
		return i - b.base + 1
	}
	return n
}

// word is the word of absolute index i (0 outside the set).
func (b *bitset) word(i uint64) uint64 {
	if i < b.base || i-b.base >= uint64(len(b.w)) {
		return 0
	}
	return b.w[i-b.base]
}

// trim drops the lowest n words (all of them when n is larger), in
// place: the words kept move down and the array is reused by the words to
// come, so a window sliding up allocates nothing.
func (b *bitset) trim(n uint64) {
	if n >= uint64(len(b.w)) {
		b.base += uint64(len(b.w))
		b.w = b.w[:0]
		return
	}
	b.base += n
	b.w = b.w[:copy(b.w, b.w[n:])]
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
		c, r := &t.confirmed[p], &t.received[p]
		for i, w := range c.w {
			for w &^= r.word(c.base + uint64(i)); w != 0; w &= w - 1 {
				n++
			}
		}
	}
	return n
}

// subBudget is how many 64-bit words (32 MiB) a bench sub's seqTracker
// may hold over all producers: 268M sequence numbers, a window that
// slides up when a producer outgrows it, by a quarter of that producer's
// words at least.
const subBudget = 1 << 22

// producerWords is what a producer's entry costs against the budget
// before its first sequence, so that payloads naming ever new runs or
// producers cannot grow the maps without bound.
const producerWords = 8

// seqTracker is bench sub's accounting of payloads another process sent:
// per (run id, producer id), the sequences received, in a bitset that
// slides up when the budget is full. It knows nothing of what was sent or
// confirmed: a sequence below a producer's highest one received and
// never received itself is a gap, not a loss.
type seqTracker struct {
	mu     sync.Mutex
	runs   map[uint64]map[uint32]*seqProducer
	budget uint64 // words
	words  uint64 // held, entries included
	n      seqCounts
}

type seqProducer struct {
	got bitset
	// top is one past the highest sequence received (0: none yet).
	top uint64
	// floor: the sequences below it were trimmed away and can no longer
	// be checked.
	floor uint64
}

// seqCounts is what a seqTracker reports.
type seqCounts struct {
	Runs, Producers int64
	// Distinct sequences received, and again.
	Received, Duplicated int64
	// Unchecked: received but not checked (below a producer's window
	// after it slid, or with the budget full): neither a duplicate nor a
	// gap filled, as far as the tracker can tell.
	Unchecked int64
	// span is the sum over producers of top.
	span uint64
}

// Gaps are the sequences below each producer's highest one received that
// were never received.
func (c seqCounts) Gaps() int64 {
	g := c.span - uint64(c.Received)
	if c.span < uint64(c.Received) || g > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(g)
}

func newSeqTracker(budget uint64) *seqTracker {
	return &seqTracker{runs: map[uint64]map[uint32]*seqProducer{}, budget: budget}
}

// receive records one bench payload and says whether it was a duplicate.
func (t *seqTracker) receive(run uint64, p uint32, seq uint64) (dup bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	prods := t.runs[run]
	sp := prods[p]
	if sp == nil {
		if t.words+producerWords > t.budget {
			t.n.Unchecked++
			return false
		}
		if prods == nil {
			prods = map[uint32]*seqProducer{}
			t.runs[run] = prods
			t.n.Runs++
		}
		sp = &seqProducer{}
		prods[p] = sp
		t.words += producerWords
		t.n.Producers++
	}
	if seq < sp.floor {
		t.n.Unchecked++
		return false
	}
	held := uint64(len(sp.got.w))
	need := sp.got.wordsWith(seq)
	if t.words-held+need > t.budget && seq >= sp.got.base*64 {
		// Slide this producer's window up: its lowest words go, a quarter
		// of them at least, since a slide copies the words it keeps (a
		// word at a time, that was the whole window per 64 sequences).
		sp.got.trim(max(t.words-held+need-t.budget, held/4))
		sp.floor = sp.got.base * 64
		t.words -= held - uint64(len(sp.got.w))
		held, need = uint64(len(sp.got.w)), sp.got.wordsWith(seq)
	}
	if t.words-held+need > t.budget {
		t.n.Unchecked++
		return false
	}
	t.words += need - held
	if sp.got.set(seq) {
		t.n.Duplicated++
		return true
	}
	t.n.Received++
	if seq >= sp.top {
		top := seq + 1
		if top == 0 { // seq is the largest uint64
			top = math.MaxUint64
		}
		t.n.span += top - sp.top
		if t.n.span < top-sp.top {
			t.n.span = math.MaxUint64
		}
		sp.top = top
	}
	return false
}

func (t *seqTracker) counts() seqCounts {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}
