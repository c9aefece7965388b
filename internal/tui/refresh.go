package tui

import (
	"strconv"
	"time"

	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/output"
)

// ctxData is what one context shows: its last refresh's data and what was
// derived from it (lag verdicts, sparklines, rates, built rows). The read
// command makes it off the event loop and nothing changes it after: the
// model swaps it in whole, so a refresh costs the event loop a pointer
// swap and the rows' sort, not a pass over every partition.
type ctxData struct {
	snap   Snapshot
	keys   []string          // snap.Lag's row keys, in its order
	codes  []string          // per snap.Lag row: its verdict's code, or "-"
	times  []timeLag         // per snap.Lag row: its time lag, 0 unknown
	sparks []string          // per snap.Lag row: its lag sparkline
	worst  string            // the worst of codes, "-" for none
	total  int64             // snap.Lag's lag summed
	trend  map[string]string // destination name -> its depth sparkline
	flows  map[string]flow   // destination name -> rates between its last two
	// rows are the Destinations and Consumers views' rows of this
	// context when it is fresh (no stale cell); nil after a failed read.
	rows [DeadLetters + 1][]row
}

func emptyData() *ctxData { return &ctxData{worst: "-"} }

// history is what a context's refreshes accumulate: the lag window and
// the samples behind the sparklines and rates. It is owned by one side at
// a time: the model hands it to the read command it starts (reads of one
// context never overlap) and takes it back with the result, so it needs
// no lock and the model never reads it.
type history struct {
	win     *lag.Window
	depth   map[string][]int64  // destination name -> depth samples
	lagHist map[string][]int64  // lag row key -> lag samples
	pos     map[string]position // destination name -> its last position
	// next is, per lagging row key, the next message to handle as of
	// the last read that asked for time lags: the position it was read
	// at and when that message was written.
	next map[string]nextMessage
}

// nextMessage is a lagging row's next message to handle, by the read that
// asked for its time lag.
type nextMessage struct {
	committed int64
	written   time.Time
}

// timeLag is a row's time lag; bound says the row moved past the message
// it was measured on since, so it is at most d (the message after it was
// written later).
type timeLag struct {
	d     time.Duration
	bound bool
}

func newHistory(samples int) *history {
	return &history{win: lag.NewWindow(samples), depth: map[string][]int64{}, lagHist: map[string][]int64{}}
}

// refresh is one read's derivation: everything it needs, taken from the
// model when the read starts, so it runs in the read command.
type refresh struct {
	ctx      int
	name     string
	prev     *ctxData // immutable: shared with the model
	hist     *history // owned by this refresh until its readMsg is applied
	samples  int
	interval time.Duration
}

// refresh prepares context i's next derivation; read hands it its history.
func (m *Model) refresh(i int) refresh {
	c := m.ctxs[i]
	return refresh{ctx: i, name: c.name, prev: c.ctxData, hist: c.hist, samples: m.opt.Samples, interval: m.opt.Interval}
}

// derive merges a read taken at now into the previous data (a partial
// read keeps what did not come) and computes what the views show.
func (j refresh) derive(snap Snapshot, err error, now time.Time) readMsg {
	h := j.hist
	d := *j.prev // shares prev's slices and maps, which nobody changes
	d.rows = [DeadLetters + 1][]row{}
	if snap.Broker != "" {
		d.snap.Broker = snap.Broker
	}
	if snap.Destinations != nil {
		d.snap.Destinations = snap.Destinations
		d.trend = make(map[string]string, len(snap.Destinations))
		for _, ds := range snap.Destinations {
			s := appendSample(h.depth[ds.Name], ds.Messages)
			h.depth[ds.Name], d.trend[ds.Name] = s, spark(s)
		}
		// Consumers' positions only from this read's lag rows: older
		// ones would make a rate of two reads' worth of commits.
		cur := positions(now, snap.Destinations, snap.Lag)
		d.flows = make(map[string]flow, len(cur))
		for name, p := range cur {
			prev, ok := h.pos[name]
			switch {
			case !ok:
			case p.at.Sub(prev.at) < j.interval/2:
				// A read soon after the last (r): too short a span for a
				// rate (a topic written once a second showed 0.0). The
				// last rate stays, and the next is measured from prev.
				if f, ok := j.prev.flows[name]; ok {
					d.flows[name] = f
				}
				cur[name] = prev
			default:
				d.flows[name] = between(prev, p)
			}
		}
		h.pos = cur
	}
	if snap.Lag != nil {
		d.snap.Lag = snap.Lag
		d.keys = lagKeys(snap.Lag)
		d.sparks = make([]string, len(snap.Lag))
		d.total = 0
		d.times = carryTimeLags(h, snap, d.keys, now)
		for k, r := range snap.Lag {
			key := d.keys[k]
			if !r.CountsKnown() {
				// No figures yet (lag.Window.Observe): not a lag of 0.
				d.sparks[k] = spark(h.lagHist[key])
				continue
			}
			h.win.Add(key, lag.Sample{At: now, Committed: r.Committed, End: r.End, Lag: r.Lag})
			s := appendSample(h.lagHist[key], r.Lag)
			h.lagHist[key], d.sparks[k] = s, spark(s)
			d.total += r.Lag
		}
		h.win.Prune(now.Add(-time.Duration(j.samples+1) * j.interval * 4))
		d.codes = make([]string, len(snap.Lag))
		warm := 0 // the most samples of a row still warming up
		for k, key := range d.keys {
			d.codes[k] = "-"
			if st, ok := h.win.Status(key); ok {
				d.codes[k] = string(st.Code)
			} else if n := len(h.lagHist[key]); n < j.samples {
				// A status needs a full window (as lag --watch): say how
				// far it got, not "-", which reads as "none".
				d.codes[k] = warming(n, j.samples)
				warm = max(warm, n)
			}
		}
		d.worst = worstStatus(d.codes)
		if d.worst == "-" && warm > 0 {
			d.worst = warming(warm, j.samples)
		}
	}
	if snap.DeadLetters != nil {
		d.snap.DeadLetters = snap.DeadLetters
	}
	if err == nil {
		for _, v := range []View{Destinations, Consumers} {
			d.rows[v] = ctxRows(v, j.ctx, j.name, &d, "", now)
		}
	}
	return readMsg{ctx: j.ctx, err: err, at: now, data: &d, hist: h}
}

// carryTimeLags are the rows' time lags. A read that asked for them (one
// in several: it costs the broker a fetch per lagging partition) gives
// them, and what message each lagging row waits on; a read that did not
// ask ages them: a row still at the same position waits on the same
// message, now older (exact); a row that moved on waits on a later one,
// so its time lag is at most that (a bound). A row with nothing to
// handle has none; one that began lagging since is unknown until the
// next read that asks.
func carryTimeLags(h *history, snap Snapshot, keys []string, now time.Time) []timeLag {
	times := make([]timeLag, len(snap.Lag))
	next := make(map[string]nextMessage, len(h.next))
	for k := range snap.Lag {
		r := &snap.Lag[k]
		switch prev, ok := h.next[keys[k]]; {
		case r.Lag <= 0:
		case r.TimeLag > 0:
			times[k] = timeLag{d: r.TimeLag}
			next[keys[k]] = nextMessage{committed: r.Committed, written: now.Add(-r.TimeLag)}
		case snap.TimeLag || !ok:
		default:
			times[k] = timeLag{d: now.Sub(prev.written), bound: r.Committed != prev.committed}
			next[keys[k]] = prev
		}
	}
	h.next = next
	return times
}

// ctxRows are context i's rows of view v (Destinations, Consumers or
// DeadLetters), cells sanitised; stale is its STALE cell. A consumers row's
// cells are made when first needed (cellsOf).
func ctxRows(v View, i int, name string, d *ctxData, stale string, now time.Time) []row {
	var rs []row
	switch v {
	case Destinations:
		queues := map[string]lag.Row{}
		for _, r := range d.snap.Lag {
			if r.Kind == lag.KindQueue {
				queues[r.Queue] = r
			}
		}
		rs = make([]row, 0, len(d.snap.Destinations))
		for _, ds := range d.snap.Destinations {
			f := d.flows[ds.Name]
			if r, ok := queues[ds.Name]; ok {
				f = queueFlow(r)
			}
			rs = append(rs, row{ctx: i, name: ds.Name,
				cells: []string{name, ds.Name, ds.Type, strconv.FormatInt(ds.Messages, 10), rateCell(f.in, f.inOK), rateCell(f.out, f.outOK), strconv.Itoa(ds.Consumers), d.trend[ds.Name], stale},
				keys:  []sortKey{str(name), str(ds.Name), str(ds.Type), num(ds.Messages), num(rateKey(f.in, f.inOK)), num(rateKey(f.out, f.outOK)), num(int64(ds.Consumers)), {}, str(stale)}})
		}
	case Consumers:
		rs = make([]row, 0, len(d.snap.Lag))
		// One array for every row's sort keys: 50,000 rows make one
		// allocation, not 50,000.
		keys := make([]sortKey, 0, 8*len(d.snap.Lag))
		for k, r := range d.snap.Lag {
			n, on := lagNames(r)
			keys = append(keys, str(name), str(n), str(on), num(r.Lag), num(int64(d.times[k].d)), sortKey{}, str(d.codes[k]), str(stale))
			rs = append(rs, row{ctx: i, name: n, lag: k, keys: keys[len(keys)-8 : len(keys) : len(keys)]})
		}
	case DeadLetters:
		for _, ds := range d.snap.DeadLetters {
			oldest := "-"
			var age int64
			if !ds.Oldest.IsZero() {
				a := now.Sub(ds.Oldest)
				age = int64(a)
				oldest = shortAge(a)
			}
			reason, origin := sampled(ds)
			rs = append(rs, row{ctx: i, name: ds.Name,
				cells: []string{name, ds.Name, ds.Type, strconv.FormatInt(ds.Messages, 10), oldest, reason, origin, ds.Why, stale},
				keys:  []sortKey{str(name), str(ds.Name), str(ds.Type), num(ds.Messages), num(age), str(reason), str(origin), str(ds.Why), str(stale)}})
		}
	}
	sanitise(rs)
	return rs
}

// sanitise makes every cell of rs safe for a terminal, in place.
func sanitise(rs []row) {
	for j := range rs {
		for k := range rs[j].cells {
			rs[j].cells[k] = output.TerminalSafe(rs[j].cells[k])
		}
	}
}
