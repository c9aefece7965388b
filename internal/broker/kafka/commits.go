package kafka

// tracker follows the records of one partition handed to a consumer and
// says how far the partition may be committed: up to the end of the longest
// prefix of delivered records that were all handled (acked or termed). The
// caller may settle records out of order; a commit never passes a record
// that is still pending or was nacked, so a crash or a restart redelivers
// everything from the first unhandled record on.
//
// It is not safe for concurrent use; the consumer guards each tracker with
// its partition's mutex.
type tracker struct {
	// buf[head:] holds the records added and not yet part of the handled
	// prefix, in offset order; buf[head] has sequence number base.
	// Popping moves head rather than reslicing buf, so the array is
	// reused once the prefix catches up.
	buf  []trackedRecord
	head int
	base uint64
	// next is the sequence number of the next record added.
	next uint64
	// last is the offset of the last record added.
	last int64
	// mark is the offset to commit, after the handled prefix;
	// mark.offset < 0 means nothing was handled yet.
	mark commitPoint
	// committed is the highest offset reported committed.
	committed int64
	// holed is set once a record was nacked. The prefix can never pass
	// it, so later records are not kept at all.
	holed bool
}

type trackedRecord struct {
	offset int64
	epoch  int32
	state  recordState
}

type recordState uint8

const (
	pending recordState = iota
	handled
	nacked
)

// commitPoint is an offset to commit, with the leader epoch of the record
// just before it (Kafka's truncation detection).
type commitPoint struct {
	offset int64
	epoch  int32
}

// compactAfter is how many popped records buf may hold at its front before
// handle moves the live ones down.
const compactAfter = 4096

// newTracker returns a tracker for a partition read from offset from: a
// record below it belongs to an earlier assignment and is refused.
func newTracker(from int64) tracker {
	return tracker{last: from - 1, mark: commitPoint{offset: -1}, committed: -1}
}

// add registers the next record handed out and returns its sequence number
// for handle and nack. Records must come in increasing offset order; a
// record at or below the last one (a fetch from before a rebalance) is
// refused with ok false and must not be delivered.
func (t *tracker) add(offset int64, epoch int32) (seq uint64, ok bool) {
	if offset <= t.last {
		return 0, false
	}
	t.last = offset
	seq = t.next
	t.next++
	if !t.holed {
		t.buf = append(t.buf, trackedRecord{offset: offset, epoch: epoch})
	}
	return seq, true
}

// handle settles record seq as handled and moves the mark over every
// handled record at the front. Settling a record twice, or one nacked
// before, changes nothing.
func (t *tracker) handle(seq uint64) {
	r := t.at(seq)
	if r == nil || r.state != pending {
		return
	}
	r.state = handled
	for t.head < len(t.buf) && t.buf[t.head].state == handled {
		r := &t.buf[t.head]
		t.mark = commitPoint{offset: r.offset + 1, epoch: r.epoch}
		t.head++
		t.base++
	}
	switch {
	case t.head == len(t.buf):
		t.buf, t.head = t.buf[:0], 0
	case t.head >= compactAfter && 2*t.head >= len(t.buf):
		// A record pending for long keeps the front from emptying;
		// drop what was popped so buf does not grow without bound.
		n := copy(t.buf, t.buf[t.head:])
		t.buf, t.head = t.buf[:n], 0
	}
}

// nack leaves record seq unhandled for good: the mark never passes it, so
// it and everything after it come again after a restart or rebalance.
// It reports whether this was the partition's first nack.
func (t *tracker) nack(seq uint64) (first bool) {
	r := t.at(seq)
	if r == nil || r.state != pending {
		return false
	}
	r.state = nacked
	first = !t.holed
	t.holed = true
	// Nothing after the hole can ever be committed: forget it.
	t.buf = t.buf[:t.head+int(seq-t.base)+1]
	return first
}

// at returns the record with sequence number seq while it is kept.
func (t *tracker) at(seq uint64) *trackedRecord {
	if seq < t.base || seq-t.base >= uint64(len(t.buf)-t.head) {
		return nil
	}
	return &t.buf[t.head+int(seq-t.base)]
}

// uncommitted returns the mark when it is ahead of the last commit.
func (t *tracker) uncommitted() (commitPoint, bool) {
	return t.mark, t.mark.offset > t.committed
}

// commit records that offset was committed.
func (t *tracker) commit(offset int64) {
	t.committed = max(t.committed, offset)
}
