package tui

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mqctl/mqctl/internal/dlq"
	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/output"
)

// row is one table line: cells already sanitised, and what sorts it.
type row struct {
	ctx   int
	name  string
	cells []string
	keys  []sortKey // per column
	text  string    // the cells lower-cased, for the filter; set on first use
	// lag is the index in its context's snap.Lag of a consumers row,
	// whose cells are made when first needed (drawn, measured or
	// filtered): at 50,000 partitions most are never on screen.
	lag int
}

// cellsOf returns r's cells, making a consumers row's on first use.
func (m *Model) cellsOf(r *row) []string {
	if r.cells == nil {
		c := m.ctxs[r.ctx]
		lr := c.snap.Lag[r.lag]
		name, on := lagNames(lr)
		r.cells = []string{c.name, name, on, strconv.FormatInt(lr.Lag, 10), timeCell(&lr, c.times[r.lag]), c.sparks[r.lag], c.codes[r.lag], m.staleCell(c, m.opt.Now())}
		for k := range r.cells {
			r.cells[k] = output.TerminalSafe(r.cells[k])
		}
	}
	return r.cells
}

// timeCell is a row's time lag t: the age of the next message it has to
// handle, "≤" when a bound (see carryTimeLags). "0s" when nothing waits;
// "-" when unknown: the broker cannot tell (a RabbitMQ quorum queue, or
// messages without a timestamp), the message was not read in time, or the
// row began lagging since the last read that asked.
func timeCell(r *lag.Row, t timeLag) string {
	switch {
	case t.d > 0 && t.bound:
		return "≤" + t.d.Round(time.Second).String()
	case t.d > 0:
		return t.d.Round(time.Second).String()
	case r.Lag == 0 && r.Kind != lag.KindQueue:
		return "0s"
	}
	return "-"
}

// sortKey is a column's value for sorting: a number or a string.
type sortKey struct {
	s string
	n int64
}

func num(n int64) sortKey  { return sortKey{n: n} }
func str(s string) sortKey { return sortKey{s: s} }

func (a sortKey) compare(b sortKey) int {
	if c := strings.Compare(a.s, b.s); c != 0 {
		return c
	}
	return cmp.Compare(a.n, b.n)
}

// rows returns view v's rows, filtered and sorted. The rows themselves
// (cells sanitised, sort keys) are gathered again only when data or the
// clock changed (version), a fresh context's destinations and consumers
// rows as its read command built them; a filter or sort key filters and
// sorts those, so a key press at 50,000 rows costs a sort, not a rebuild.
func (m *Model) rows(v View) []row {
	c := &m.cache[v]
	if !c.ok || c.version != m.version {
		*c = rowCache{version: m.version, base: m.buildRows(v), ok: true}
	}
	k := viewKey{m.filter[v], m.sortCol[v], m.sortDesc[v]}
	if !c.viewOK || c.key != k {
		c.rows, c.key, c.viewOK = m.filterSort(v, c.base), k, true
	}
	return c.rows
}

type viewKey struct {
	filter  string
	sortCol int
	desc    bool
}

type rowCache struct {
	version int
	base    []row // built, not filtered or sorted
	ok      bool
	key     viewKey
	rows    []row // base filtered and sorted by key
	viewOK  bool
}

// filterSort returns the rows of base that match v's filter, sorted by
// its sort column (stable: ties keep the order they were built in).
func (m *Model) filterSort(v View, base []row) []row {
	rs := base
	if f := strings.ToLower(m.filter[v]); f != "" {
		rs = nil
		for j := range base {
			r := &base[j]
			if r.text == "" {
				r.text = strings.ToLower(strings.Join(m.cellsOf(r), "\x00"))
			}
			if strings.Contains(r.text, f) {
				rs = append(rs, *r)
			}
		}
	}
	if v == Browser {
		return rs
	}
	// Indices sort, not the rows: a row is ten words.
	col, desc := m.sortCol[v], m.sortDesc[v]
	idx := make([]int32, len(rs))
	for j := range idx {
		idx[j] = int32(j)
	}
	slices.SortStableFunc(idx, func(a, b int32) int {
		if desc {
			a, b = b, a
		}
		return rs[a].keys[col].compare(rs[b].keys[col])
	})
	sorted := make([]row, len(rs))
	for j, k := range idx {
		sorted[j] = rs[k]
	}
	return sorted
}

func (m *Model) buildRows(v View) []row {
	if v == Detail {
		return m.detailRows(m.opt.Now())
	}
	n := len(m.peek.msgs)
	for _, c := range m.ctxs {
		n += len(c.snap.Destinations) + len(c.snap.Lag) + len(c.snap.DeadLetters)
	}
	rs := make([]row, 0, min(n, 1<<20))
	now := m.opt.Now()
	for i, c := range m.ctxs {
		stale := m.staleCell(c, now)
		switch v {
		case Overview:
			var dl int64
			for _, d := range c.snap.DeadLetters {
				dl += d.Messages
			}
			reach := "ok"
			if c.err != nil {
				reach = "error: " + oneLine(c.err.Error())
			} else if c.lastOK.IsZero() {
				reach = "connecting"
			}
			r := row{ctx: i, name: c.name,
				cells: []string{c.name, c.snap.Broker, reach, strconv.Itoa(len(c.snap.Destinations)), strconv.FormatInt(c.total, 10), strconv.FormatInt(dl, 10), c.worst, stale},
				keys:  []sortKey{str(c.name), str(c.snap.Broker), str(reach), num(int64(len(c.snap.Destinations))), num(c.total), num(dl), str(c.worst), str(stale)}}
			sanitise([]row{r})
			rs = append(rs, r)
		case Destinations, Consumers:
			// Built by the read command while the context is fresh.
			if stale == "" && c.rows[v] != nil {
				rs = append(rs, c.rows[v]...)
				continue
			}
			rs = append(rs, ctxRows(v, i, c.name, c.ctxData, stale, now)...)
		case DeadLetters:
			rs = append(rs, ctxRows(v, i, c.name, c.ctxData, stale, now)...)
		}
	}
	if v == Browser {
		for j := range m.peek.msgs {
			rs = append(rs, m.browserRow(j))
		}
		sanitise(rs)
	}
	return rs
}

// sampled is a dead-letter row's top reason and original destination
// cells: "(not read)" where reading would mark them redelivered, "-"
// where nothing was read.
func sampled(d DeadLetterRow) (reason, origin string) {
	switch {
	case d.NotRead:
		return "(not read)", "(not read)"
	case d.Sampled == 0:
		return "-", "-"
	}
	return dlq.OneLine(d.TopReason, 200), dlq.OneLine(d.Origin, 200)
}

func lagNames(r lag.Row) (name, on string) {
	switch r.Kind {
	case lag.KindPartition:
		return r.Group, r.Topic + "/" + strconv.Itoa(int(r.Partition))
	case lag.KindConsumer:
		return r.Consumer, r.Stream
	}
	return r.Queue, ""
}

// warming is the status cell of a row whose window has n of its k
// samples: no verdict yet.
func warming(n, k int) string { return "…" + strconv.Itoa(n) + "/" + strconv.Itoa(k) }

// worstStatus is the worst of the rows' verdicts, "-" for none (rows
// still warming up have none).
func worstStatus(codes []string) string {
	worst := "-"
	rank := -1
	for _, c := range codes {
		if c == "-" || strings.HasPrefix(c, "…") {
			continue
		}
		if r := codeRank(lag.Code(c)); r > rank {
			rank, worst = r, c
		}
	}
	return worst
}

func codeRank(c lag.Code) int {
	switch string(c) {
	case "OK":
		return 0
	case "WARN":
		return 1
	case "REWIND":
		return 2
	case "STALL":
		return 3
	case "STOP":
		return 4
	}
	return 0
}

// staleCell is "" for a fresh context, else how old its rows are. While
// paused, a context that answered is measured at the pause (asOf): its
// rows are as old as the status line says, not stale.
func (m *Model) staleCell(c *ctxState, now time.Time) string {
	if m.paused && c.err == nil && now.After(m.asOf) {
		now = m.asOf
	}
	if c.err == nil && (c.lastOK.IsZero() || now.Sub(c.lastOK) <= 2*m.opt.Interval) {
		return ""
	}
	if c.lastOK.IsZero() {
		return "stale"
	}
	return "stale " + shortAge(now.Sub(c.lastOK))
}

func shortAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + "d"
}

var sparkRunes = []rune("▁▂▃▄▅▆▇█")

// spark draws samples scaled to their own range.
func spark(s []int64) string {
	if len(s) == 0 {
		return ""
	}
	lo, hi := s[0], s[0]
	for _, v := range s {
		lo, hi = min(lo, v), max(hi, v)
	}
	out := make([]rune, len(s))
	for i, v := range s {
		k := 0
		if hi > lo {
			k = int((v - lo) * int64(len(sparkRunes)-1) / (hi - lo))
		}
		out[i] = sparkRunes[k]
	}
	return string(out)
}
