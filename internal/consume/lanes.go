package consume

import (
	"context"
	"sync"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
)

// laneMax is how many deliveries a partition's lane holds before its
// fetching is paused; it resumes at half, so that its handler does not
// wait for the fetch.
const laneMax = 64

// lanes hold the deliveries the dispatcher of an --exec run read, for
// the handlers to take.
//
// Ordered (Kafka), each partition has a lane that one handler at a time
// takes from, in order, and any idle handler takes the next lane with a
// delivery waiting: a partition whose handler is slow holds up no other.
// The dispatcher does not wait for a lane: when one holds laneMax
// deliveries it pauses its partition's fetching (broker.FetchPauser), so
// a lane holds at most laneMax and one poll's worth more; with a consumer
// that cannot pause the dispatcher waits for room instead.
//
// Unordered (the other brokers), all handlers take from one lane and the
// dispatcher waits while a delivery waits in it: the broker's prefetch
// bounds what is held.
type lanes struct {
	ordered bool
	pauser  broker.FetchPauser
	mu      sync.Mutex
	cond    *sync.Cond
	byKey   map[laneKey]*lane
	// ready are the lanes with a delivery waiting and no handler.
	ready []*lane
	// taken counts the deliveries put and not yet done: in flight.
	taken int
	// idle is closed while nothing is in flight, since idleSince.
	idle      chan struct{}
	idleSince time.Time
	closed    bool
}

type laneKey struct {
	dest string
	part int32
}

type lane struct {
	key laneKey
	ds  []*broker.Delivery
	// busy: a handler has one of its deliveries.
	busy bool
	// resume, while set, ends the pause of its partition's fetching.
	resume func()
}

func newLanes(ordered bool, c broker.Consumer) *lanes {
	ls := &lanes{ordered: ordered, byKey: map[laneKey]*lane{}, idle: make(chan struct{})}
	close(ls.idle)
	ls.cond = sync.NewCond(&ls.mu)
	if p, ok := c.(broker.FetchPauser); ok && ordered {
		ls.pauser = p
	}
	return ls
}

// wakeOn wakes every wait when ctx ends; the returned func stops that.
func (ls *lanes) wakeOn(ctx context.Context) func() bool {
	return context.AfterFunc(ctx, func() {
		ls.mu.Lock()
		defer ls.mu.Unlock()
		ls.cond.Broadcast()
	})
}

// key is d's lane: the partition d was fetched from, which PauseFetch
// pauses; a Kafka record read back from a retry topic reads as its
// origin partition but has its retry topic partition's lane.
func (ls *lanes) key(d *broker.Delivery) laneKey {
	switch {
	case !ls.ordered:
		return laneKey{}
	case ls.pauser != nil:
		dest, part := ls.pauser.FetchedFrom(d)
		return laneKey{dest, part}
	}
	return laneKey{d.Destination, d.Kafka.Partition}
}

// put adds d to its lane. It waits for room only where described above,
// and returns false, d not added, when ctx ended first.
func (ls *lanes) put(ctx context.Context, d *broker.Delivery) bool {
	ls.mu.Lock()
	k := ls.key(d)
	limit := laneMax
	if !ls.ordered {
		limit = 1
	}
	var l *lane
	for {
		// Looked up again after a wait: an emptied lane is dropped.
		if l = ls.byKey[k]; l == nil {
			l = &lane{key: k}
			ls.byKey[k] = l
		}
		if ls.pauser != nil || len(l.ds) < limit || ctx.Err() != nil {
			break
		}
		ls.cond.Wait()
	}
	if ctx.Err() != nil {
		ls.mu.Unlock()
		return false
	}
	l.ds = append(l.ds, d)
	if ls.taken++; ls.taken == 1 {
		ls.idle = make(chan struct{})
	}
	if ls.ordered && len(l.ds) == 1 && !l.busy {
		ls.ready = append(ls.ready, l)
	}
	if ls.pauser != nil && len(l.ds) >= laneMax && l.resume == nil {
		// Made under mu, as the resume is, so the two keep their
		// order; before the dispatcher reads again, so d is not reused.
		l.resume = ls.pauser.PauseFetch(d)
	}
	ls.cond.Broadcast()
	ls.mu.Unlock()
	return true
}

// take waits for a delivery to handle; done must be called once it was
// handled or settled. ok is false once the lanes are closed and empty.
func (ls *lanes) take() (d *broker.Delivery, done func(), ok bool) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for {
		if !ls.ordered {
			if l := ls.byKey[laneKey{}]; l != nil && len(l.ds) > 0 {
				d = l.pop()
				ls.cond.Broadcast()
				return d, ls.doneFunc(nil), true
			}
		} else if len(ls.ready) > 0 {
			l := ls.ready[0]
			ls.ready[0] = nil
			ls.ready = ls.ready[1:]
			l.busy = true
			d = l.pop()
			ls.cond.Broadcast()
			return d, ls.doneFunc(l), true
		}
		if ls.closed {
			return nil, nil, false
		}
		ls.cond.Wait()
	}
}

func (l *lane) pop() *broker.Delivery {
	d := l.ds[0]
	l.ds[0] = nil
	l.ds = l.ds[1:]
	return d
}

// doneFunc is what take returns as done: the lane is free for its next
// delivery, and its partition's fetching resumes once it holds half of
// laneMax or less.
func (ls *lanes) doneFunc(l *lane) func() {
	return func() {
		ls.mu.Lock()
		defer ls.mu.Unlock()
		ls.landed(1)
		if l != nil {
			l.busy = false
			if len(l.ds) > 0 {
				ls.ready = append(ls.ready, l)
			}
			if len(l.ds) <= laneMax/2 && l.resume != nil {
				l.resume()
				l.resume = nil
			}
			if len(l.ds) == 0 && l.resume == nil {
				delete(ls.byKey, l.key)
			}
		}
		ls.cond.Broadcast()
	}
}

// landed counts n deliveries no longer in flight; under mu.
func (ls *lanes) landed(n int) {
	if n == 0 {
		return
	}
	if ls.taken -= n; ls.taken == 0 {
		ls.idleSince = time.Now()
		close(ls.idle)
	}
}

// inFlight returns a channel closed while nothing put is in flight
// (waiting in a lane or being handled, its partition's fetching perhaps
// paused), and since when that is so: --idle-timeout counts from then.
func (ls *lanes) inFlight() (idle <-chan struct{}, since time.Time) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.idle, ls.idleSince
}

// waitTaken waits until enough is false or nothing put is still being
// handled, or ctx ends; it returns enough's last answer. With -n, the
// dispatcher waits so before it stops: a delivery given back unhandled
// takes its place again.
func (ls *lanes) waitTaken(ctx context.Context, enough func() bool) bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for enough() && ls.taken > 0 && ctx.Err() == nil {
		ls.cond.Wait()
	}
	return enough()
}

// drain empties every lane and returns what they held, in the order put
// per lane.
func (ls *lanes) drain() []*broker.Delivery {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	var out []*broker.Delivery
	for _, l := range ls.byKey {
		out = append(out, l.ds...)
		ls.landed(len(l.ds))
		l.ds = nil
	}
	ls.ready = nil
	return out
}

// close lets the handlers end once the lanes are empty.
func (ls *lanes) close() {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.closed = true
	ls.cond.Broadcast()
}
