package tui

import (
	"sort"
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
	keys  []any // per column: int64 or string
}

// rows returns view v's rows, filtered and sorted, rebuilt only when data,
// clock ticks, filter or sort changed since the last call.
func (m *Model) rows(v View) []row {
	k := cacheKey{m.version, m.filter[v], m.sortCol[v], m.sortDesc[v]}
	if c := m.cache[v]; c.ok && c.key == k {
		return c.rows
	}
	rs := m.buildRows(v)
	m.cache[v] = rowCache{key: k, rows: rs, ok: true}
	return rs
}

type cacheKey struct {
	version int
	filter  string
	sortCol int
	desc    bool
}

type rowCache struct {
	key  cacheKey
	rows []row
	ok   bool
}

func (m *Model) buildRows(v View) []row {
	var rs []row
	now := m.opt.Now()
	for i, c := range m.ctxs {
		stale := m.staleCell(c, now)
		switch v {
		case Overview:
			var total int64
			for _, r := range c.snap.Lag {
				total += r.Lag
			}
			var dl int64
			for _, d := range c.snap.DeadLetters {
				dl += d.Messages
			}
			worst := worstStatus(c.win.Statuses())
			reach := "ok"
			if c.err != nil {
				reach = "error: " + oneLine(c.err.Error())
			} else if c.lastOK.IsZero() {
				reach = "connecting"
			}
			rs = append(rs, row{ctx: i, name: c.name,
				cells: []string{c.name, c.snap.Broker, reach, strconv.Itoa(len(c.snap.Destinations)), strconv.FormatInt(total, 10), strconv.FormatInt(dl, 10), worst, stale},
				keys:  []any{c.name, c.snap.Broker, reach, int64(len(c.snap.Destinations)), total, dl, worst, stale}})
		case Destinations:
			queues := map[string]lag.Row{}
			for _, r := range c.snap.Lag {
				if r.Kind == lag.KindQueue {
					queues[r.Queue] = r
				}
			}
			for _, d := range c.snap.Destinations {
				f := c.flows[d.Name]
				if r, ok := queues[d.Name]; ok {
					f = queueFlow(r)
				}
				rs = append(rs, row{ctx: i, name: d.Name,
					cells: []string{c.name, d.Name, d.Type, strconv.FormatInt(d.Messages, 10), rateCell(f.in, f.inOK), rateCell(f.out, f.outOK), strconv.Itoa(d.Consumers), spark(c.depth[d.Name]), stale},
					keys:  []any{c.name, d.Name, d.Type, d.Messages, rateKey(f.in, f.inOK), rateKey(f.out, f.outOK), int64(d.Consumers), "", stale}})
			}
		case Consumers:
			st := c.win.Statuses()
			for _, r := range c.snap.Lag {
				name, on := lagNames(r)
				code := "-"
				if s, ok := st[r.Key()]; ok {
					code = string(s.Code)
				}
				tl := "-"
				if r.TimeLag > 0 {
					tl = r.TimeLag.Round(time.Second).String()
				}
				rs = append(rs, row{ctx: i, name: name,
					cells: []string{c.name, name, on, strconv.FormatInt(r.Lag, 10), tl, spark(c.lagHist[r.Key()]), code, stale},
					keys:  []any{c.name, name, on, r.Lag, int64(r.TimeLag), "", code, stale}})
			}
		case DeadLetters:
			for _, d := range c.snap.DeadLetters {
				oldest := "-"
				var age int64
				if !d.Oldest.IsZero() {
					a := now.Sub(d.Oldest)
					age = int64(a)
					oldest = shortAge(a)
				}
				reason, origin := sampled(d)
				rs = append(rs, row{ctx: i, name: d.Name,
					cells: []string{c.name, d.Name, d.Type, strconv.FormatInt(d.Messages, 10), oldest, reason, origin, d.Why, stale},
					keys:  []any{c.name, d.Name, d.Type, d.Messages, age, reason, origin, d.Why, stale}})
			}
		}
	}
	if v == Browser {
		for j := range m.peek.msgs {
			rs = append(rs, m.browserRow(j))
		}
	}
	for j := range rs {
		for k := range rs[j].cells {
			rs[j].cells[k] = output.TerminalSafe(rs[j].cells[k])
		}
	}
	if f := strings.ToLower(m.filter[v]); f != "" {
		kept := rs[:0]
		for _, r := range rs {
			if strings.Contains(strings.ToLower(strings.Join(r.cells, "\x00")), f) {
				kept = append(kept, r)
			}
		}
		rs = kept
	}
	if v != Browser {
		col, desc := m.sortCol[v], m.sortDesc[v]
		idx := make([]int, len(rs))
		for j := range idx {
			idx[j] = j
		}
		sort.SliceStable(idx, func(a, b int) bool {
			c := compare(rs[idx[a]].keys[col], rs[idx[b]].keys[col])
			if desc {
				return c > 0
			}
			return c < 0
		})
		sorted := make([]row, len(rs))
		for j, k := range idx {
			sorted[j] = rs[k]
		}
		rs = sorted
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

func compare(a, b any) int {
	switch x := a.(type) {
	case int64:
		y := b.(int64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case string:
		return strings.Compare(x, b.(string))
	}
	return 0
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

func worstStatus(st map[string]lag.Status) string {
	worst := ""
	rank := -1
	for _, s := range st {
		r := codeRank(s.Code)
		if r > rank {
			rank, worst = r, string(s.Code)
		}
	}
	if worst == "" {
		return "-"
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

// staleCell is "" for a fresh context, else how old its rows are.
func (m *Model) staleCell(c *ctxState, now time.Time) string {
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
