package kafka

import "testing"

func TestTracker(t *testing.T) {
	// Each step adds records (offsets), settles record number i (in add
	// order) or both; mark is the offset to commit after the step, -1
	// for none.
	type step struct {
		add  []int64
		ack  int // index of the record to ack, -1 for none
		nack int // index of the record to nack, -1 for none
		mark int64
	}
	add := func(mark int64, offs ...int64) step { return step{add: offs, ack: -1, nack: -1, mark: mark} }
	ack := func(i int, mark int64) step { return step{ack: i, nack: -1, mark: mark} }
	nack := func(i int, mark int64) step { return step{ack: -1, nack: i, mark: mark} }
	for _, tc := range []struct {
		name  string
		from  int64
		steps []step
	}{
		{"in order", 10, []step{add(-1, 10, 11, 12), ack(0, 11), ack(1, 12), ack(2, 13)}},
		{"out of order", 10, []step{add(-1, 10, 11, 12), ack(2, -1), ack(0, 11), ack(1, 13)}},
		{"gaps from compaction", 0, []step{add(-1, 3, 9, 20), ack(1, -1), ack(0, 10), ack(2, 21)}},
		{"acked twice", 0, []step{add(-1, 0, 1), ack(0, 1), ack(0, 1), ack(1, 2)}},
		{"nack leaves a hole", 10, []step{
			add(-1, 10, 11, 12, 13, 14), ack(0, 11), nack(2, 11), ack(1, 12), ack(3, 12), ack(4, 12),
			// Acking the nacked record, or adding more, changes nothing.
			ack(2, 12), add(12, 15), ack(5, 12),
		}},
		{"nack at the front", 0, []step{add(-1, 0, 1), nack(0, -1), ack(1, -1)}},
		{"settle in a later batch", 0, []step{add(-1, 0, 1), ack(1, -1), add(-1, 2, 3), ack(2, -1), ack(0, 3), ack(3, 4)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker(tc.from)
			var seqs []uint64
			for n, s := range tc.steps {
				for _, off := range s.add {
					seq, ok := tr.add(off, 7)
					if !ok {
						t.Fatalf("step %d: add(%d) refused", n, off)
					}
					seqs = append(seqs, seq)
				}
				if s.ack >= 0 {
					tr.handle(seqs[s.ack])
				}
				if s.nack >= 0 {
					tr.nack(seqs[s.nack])
				}
				if tr.mark.offset != s.mark {
					t.Fatalf("step %d: mark %d, want %d", n, tr.mark.offset, s.mark)
				}
				if s.mark >= 0 && tr.mark.epoch != 7 {
					t.Fatalf("step %d: mark epoch %d, want the record's 7", n, tr.mark.epoch)
				}
			}
		})
	}
}

func TestTrackerRefusesEarlierRecords(t *testing.T) {
	tr := newTracker(5)
	for _, tc := range []struct {
		off int64
		ok  bool
	}{{4, false}, {5, true}, {5, false}, {3, false}, {8, true}, {6, false}} {
		if _, ok := tr.add(tc.off, 0); ok != tc.ok {
			t.Errorf("add(%d) ok = %v, want %v", tc.off, ok, tc.ok)
		}
	}
}

func TestTrackerNackReportsFirst(t *testing.T) {
	tr := newTracker(0)
	var seqs []uint64
	for off := range int64(3) {
		seq, _ := tr.add(off, 0)
		seqs = append(seqs, seq)
	}
	if !tr.nack(seqs[1]) {
		t.Error("first nack not reported first")
	}
	if tr.nack(seqs[0]) || tr.nack(seqs[1]) {
		t.Error("a later nack was reported first")
	}
	tr.handle(seqs[2])
	if tr.mark.offset != -1 {
		t.Errorf("mark %d past nacked records", tr.mark.offset)
	}
}

func TestTrackerUncommitted(t *testing.T) {
	tr := newTracker(0)
	if _, ok := tr.uncommitted(); ok {
		t.Fatal("a new tracker has something to commit")
	}
	a, _ := tr.add(0, 0)
	b, _ := tr.add(1, 0)
	tr.handle(a)
	if cp, ok := tr.uncommitted(); !ok || cp.offset != 1 {
		t.Fatalf("uncommitted = %d, %v; want 1, true", cp.offset, ok)
	}
	tr.commit(1)
	if _, ok := tr.uncommitted(); ok {
		t.Fatal("committed mark reported again")
	}
	tr.handle(b)
	if cp, ok := tr.uncommitted(); !ok || cp.offset != 2 {
		t.Fatalf("uncommitted = %d, %v; want 2, true", cp.offset, ok)
	}
}

// TestTrackerBounded checks that records behind a long-pending one, or
// after a hole, do not pile up.
func TestTrackerBounded(t *testing.T) {
	const n = 5 * compactAfter
	tr := newTracker(0)
	first, _ := tr.add(0, 0)
	for off := int64(1); off < n; off++ {
		seq, _ := tr.add(off, 0)
		tr.handle(seq)
	}
	if tr.mark.offset != -1 {
		t.Fatalf("mark %d passed the pending first record", tr.mark.offset)
	}
	tr.handle(first)
	if tr.mark.offset != n || len(tr.buf) != 0 {
		t.Fatalf("after the first record: mark %d, %d kept; want %d and 0", tr.mark.offset, len(tr.buf), n)
	}

	// Records acked in order while one stays pending in the middle.
	mid := uint64(0)
	for off := int64(n); off < 3*n; off++ {
		seq, _ := tr.add(off, 0)
		if off == n+10 {
			mid = seq
			continue
		}
		tr.handle(seq)
	}
	if tr.mark.offset != n+10 {
		t.Fatalf("mark %d, want %d: the pending record", tr.mark.offset, n+10)
	}
	tr.handle(mid)
	if tr.mark.offset != 3*n || cap(tr.buf) > 4*n {
		t.Fatalf("mark %d with cap %d; want %d and a buffer no larger than the records added", tr.mark.offset, cap(tr.buf), 3*n)
	}

	// Always one record pending: each is acked once the next was added.
	prev, _ := tr.add(3*n, 0)
	for off := int64(3*n + 1); off < 4*n; off++ {
		seq, _ := tr.add(off, 0)
		tr.handle(prev)
		prev = seq
	}
	if tr.mark.offset != 4*n-1 || len(tr.buf) > 2*compactAfter+1 {
		t.Fatalf("sliding window: mark %d with %d kept; want %d and at most %d", tr.mark.offset, len(tr.buf), 4*n-1, 2*compactAfter+1)
	}
	tr.handle(prev)

	hole, _ := tr.add(4*n, 0)
	tr.nack(hole)
	for off := int64(4*n + 1); off < 5*n; off++ {
		tr.add(off, 0)
	}
	if len(tr.buf)-tr.head != 1 {
		t.Errorf("%d records kept after a hole, want only the hole", len(tr.buf)-tr.head)
	}
}
