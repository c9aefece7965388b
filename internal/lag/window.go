package lag

import "time"

// Window keeps the last K samples of every row key, so a long --watch uses
// memory bounded by K × rows. It is not safe for concurrent use: one watch
// loop owns it.
type Window struct {
	size    int
	series  map[string]*ring
	scratch []Sample // Status's copy of one key's samples
}

// ring holds up to size samples; once full, start is the oldest.
type ring struct {
	buf   []Sample
	start int
}

// NewWindow returns a window of k samples per key. k below 2 is raised to 2,
// the fewest samples Evaluate can judge.
func NewWindow(k int) *Window {
	return &Window{size: max(k, minSamples), series: map[string]*ring{}}
}

// Add appends s to key's samples, dropping the oldest when K are held, and
// sets s.Still from the sample before it. Samples must be added in time
// order.
func (w *Window) Add(key string, s Sample) {
	r := w.series[key]
	if r == nil {
		r = &ring{buf: make([]Sample, 0, w.size)}
		w.series[key] = r
	}
	s.Still = 0
	if s.Committed >= 0 {
		s.Still = 1
		if len(r.buf) > 0 {
			if prev := r.newest(); prev.Committed == s.Committed {
				s.Still = prev.Still + 1
			}
		}
	}
	if len(r.buf) < w.size {
		r.buf = append(r.buf, s)
		return
	}
	r.buf[r.start] = s
	r.start = (r.start + 1) % w.size
}

// Samples returns a copy of key's samples, oldest first; nil if none.
func (w *Window) Samples(key string) []Sample {
	r := w.series[key]
	if r == nil {
		return nil
	}
	out := make([]Sample, 0, len(r.buf))
	out = append(out, r.buf[r.start:]...)
	return append(out, r.buf[:r.start]...)
}

// Observe adds one sample per row, all taken at at.
func (w *Window) Observe(at time.Time, rows []Row) {
	for _, r := range rows {
		if !r.CountsKnown() {
			// A queue the management API has no figures for yet (a
			// broker that just restarted) reads Lag 0: a sample of it
			// would say caught up, and turn STALL or WARN into OK.
			continue
		}
		w.Add(r.Key(), Sample{At: at, Committed: r.Committed, End: r.End, Lag: r.Lag})
	}
}

// Prune forgets keys whose newest sample is older than before, so partitions,
// queues and consumers that disappeared do not keep memory forever. A key
// that is only missing from one poll (a transient read error) survives.
func (w *Window) Prune(before time.Time) {
	for key, r := range w.series {
		if r.newest().At.Before(before) {
			delete(w.series, key)
		}
	}
}

func (r *ring) newest() Sample { return r.buf[(r.start+len(r.buf)-1)%len(r.buf)] }

// Status evaluates one key as Statuses does; ok is false while its
// window is not full (no verdict yet) or the key is unknown. It allocates
// nothing for the samples: top asks it for each of 50,000 partitions per
// refresh.
func (w *Window) Status(key string) (st Status, ok bool) {
	r := w.series[key]
	if r == nil || len(r.buf) < w.size {
		return Status{}, false
	}
	w.scratch = append(append(w.scratch[:0], r.buf[r.start:]...), r.buf[:r.start]...)
	st = Evaluate(w.scratch, w.size)
	return st, st.Code != ""
}

// Statuses evaluates every key; the map is what Table and Check take. A key
// whose window is not full yet has no verdict and no entry: the table
// shows "-" and --check --rules counts it UNKNOWN.
func (w *Window) Statuses() map[string]Status {
	out := make(map[string]Status, len(w.series))
	// One buffer for every key's samples (Evaluate keeps none), and no
	// call for a key still warming up: top evaluates 50,000 partitions
	// per refresh.
	buf := make([]Sample, 0, w.size)
	for key, r := range w.series {
		if len(r.buf) < w.size {
			continue
		}
		buf = append(append(buf[:0], r.buf[r.start:]...), r.buf[:r.start]...)
		if st := Evaluate(buf, w.size); st.Code != "" {
			out[key] = st
		}
	}
	return out
}
