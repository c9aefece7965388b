package tui

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/output"
)

// selection is the consumer the detail view shows: a Kafka group (all
// its partitions), a JetStream consumer or a RabbitMQ queue of context
// ctx. Its rows are found again in every refresh, so the view stays live.
type selection struct {
	ctx    int
	kind   string // lag.KindPartition, KindConsumer or KindQueue; "" for none
	name   string // the group, consumer or queue
	stream string // a JetStream consumer's stream
}

func (s selection) holds(r *lag.Row) bool {
	if r.Kind != s.kind {
		return false
	}
	switch s.kind {
	case lag.KindPartition:
		return r.Group == s.name
	case lag.KindConsumer:
		return r.Consumer == s.name && r.Stream == s.stream
	}
	return r.Queue == s.name
}

// noDetail says why :detail did nothing.
const noDetail = "the detail view shows one consumer group, consumer or queue: open one with Enter in consumers (3)"

// drillConsumer opens the detail view on the selected row's group,
// consumer or queue, its cursor on that row.
func (m *Model) drillConsumer() {
	rows := m.rows(Consumers)
	if len(rows) == 0 {
		return
	}
	r := rows[min(m.cursor[Consumers], len(rows)-1)]
	lr := &m.ctxs[r.ctx].snap.Lag[r.lag]
	name, _ := lagNames(*lr)
	m.sel = selection{ctx: r.ctx, kind: lr.Kind, name: name, stream: lr.Stream}
	m.filter[Detail], m.cursor[Detail] = "", 0
	m.version++ // another selection: the detail rows are built again
	m.setView(Detail)
	for j, d := range m.rows(Detail) {
		if d.lag == r.lag {
			m.cursor[Detail] = j
		}
	}
}

// detailColumns are the detail view's columns for the selection's kind.
func (m *Model) detailColumns() []column {
	age := column{staleTitle, 9, false, false, 0}
	switch m.sel.kind {
	case lag.KindPartition:
		return []column{{"TOPIC/PART", 10, true, false, 0}, {"COMMITTED", 9, false, false, 0}, {"END", 7, false, false, 0},
			{"LAG", 6, false, false, 0}, {"TIME", 5, false, false, 3}, {"STATUS", 6, false, false, 4}, {"MEMBER", 8, true, false, 1},
			{"CLIENT", 8, true, false, 2}, age}
	case lag.KindConsumer:
		return []column{{"STREAM", 8, true, false, 0}, {"ACK FLOOR", 9, false, false, 0}, {"LAST SEQ", 8, false, false, 0},
			{"PENDING", 7, false, false, 0}, {"ACK PEND", 8, false, false, 0}, {"REDELIV", 7, false, false, 3},
			{"WAITING", 7, false, false, 1}, {"TIME", 5, false, false, 4}, {"ACTIVE", 6, false, false, 2}, {"STATUS", 6, false, false, 5}, age}
	}
	return []column{{"QUEUE", 8, true, false, 0}, {"READY", 6, false, false, 0}, {"UNACKED", 7, false, false, 0},
		{"CONS", 4, false, false, 0}, {"TIME", 5, false, false, 5}, {"IN/s", 5, false, false, 3}, {"OUT/s", 5, false, false, 4},
		{"ACK/s", 5, false, false, 2}, {"DRAIN", 6, false, false, 1}, {"STATE", 7, false, false, 6}, {"STATUS", 6, false, false, 7}, age}
}

// detailRows are the selection's rows, cells sanitised.
func (m *Model) detailRows(now time.Time) []row {
	if m.sel.kind == "" || m.sel.ctx >= len(m.ctxs) {
		return nil
	}
	c := m.ctxs[m.sel.ctx]
	stale := m.staleCell(c, now)
	var rs []row
	for k := range c.snap.Lag {
		r := &c.snap.Lag[k]
		if !m.sel.holds(r) {
			continue
		}
		code := c.codes[k]
		tl := timeCell(r, c.times[k])
		var cells []string
		var keys []sortKey
		switch r.Kind {
		case lag.KindPartition:
			tp := r.Topic + "/" + strconv.Itoa(int(r.Partition))
			cells = []string{tp, offsetCell(r.Committed), offsetCell(r.End), strconv.FormatInt(r.Lag, 10), tl, code, orDash(r.Member), orDash(r.ClientID), stale}
			keys = []sortKey{{s: r.Topic, n: int64(r.Partition)}, num(r.Committed), num(r.End), num(r.Lag), num(int64(c.times[k].d)), str(code), str(r.Member), str(r.ClientID), str(stale)}
		case lag.KindConsumer:
			active := "-"
			if !r.LastActive.IsZero() {
				active = shortAge(now.Sub(r.LastActive))
			}
			cells = []string{r.Stream, offsetCell(r.Committed), offsetCell(r.End), strconv.FormatInt(r.Lag, 10), strconv.FormatInt(r.AckPending, 10),
				strconv.FormatInt(r.Redelivered, 10), strconv.FormatInt(r.Waiting, 10), tl, active, code, stale}
			keys = []sortKey{str(r.Stream), num(r.Committed), num(r.End), num(r.Lag), num(r.AckPending), num(r.Redelivered), num(r.Waiting),
				num(int64(c.times[k].d)), num(-r.LastActive.UnixNano()), str(code), str(stale)}
		default:
			f := queueFlow(*r)
			drain := "-"
			if r.DrainTime > 0 {
				drain = r.DrainTime.Round(time.Second).String()
			}
			ready, unacked := strconv.FormatInt(r.Ready, 10), strconv.FormatInt(r.Unacked, 10)
			if !r.CountsKnown() {
				ready, unacked = "?", "?"
			}
			cells = []string{r.Queue, ready, unacked, strconv.Itoa(r.Consumers), tl, rateCell(f.in, f.inOK), rateCell(f.out, f.outOK),
				rateCell(r.AckRate, f.outOK), drain, orDash(r.State), code, stale}
			keys = []sortKey{str(r.Queue), num(r.Ready), num(r.Unacked), num(int64(r.Consumers)), num(int64(c.times[k].d)), num(rateKey(f.in, f.inOK)),
				num(rateKey(f.out, f.outOK)), num(rateKey(r.AckRate, f.outOK)), num(int64(r.DrainTime)), str(r.State), str(code), str(stale)}
		}
		rs = append(rs, row{ctx: m.sel.ctx, name: cells[0], cells: cells, keys: keys, lag: k})
	}
	sanitise(rs)
	return rs
}

// detailSummary is the line above the detail table: what is shown, and
// what its rows add up to.
func (m *Model) detailSummary() string {
	if m.sel.kind == "" {
		return ""
	}
	c := m.ctxs[m.sel.ctx]
	var n int
	var total int64
	states, members, topics := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for k := range c.snap.Lag {
		r := &c.snap.Lag[k]
		if !m.sel.holds(r) {
			continue
		}
		n++
		total += r.Lag
		if r.State != "" {
			states[r.State] = true
		}
		if r.Member != "" {
			members[r.Member] = true
		}
		topics[r.Topic] = true
	}
	// The context is in the title.
	what := "queue " + m.sel.name
	switch m.sel.kind {
	case lag.KindPartition:
		what = "group " + m.sel.name
	case lag.KindConsumer:
		what = fmt.Sprintf("consumer %s of stream %s", m.sel.name, m.sel.stream)
	}
	if n == 0 {
		return output.TerminalSafe(what + ": not in the last refresh")
	}
	what += fmt.Sprintf(": lag %d", total)
	if m.sel.kind == lag.KindPartition {
		what += fmt.Sprintf(" on %s of %s, %s", plural(n, "partition"), plural(len(topics), "topic"), plural(len(members), "member"))
	}
	if len(states) > 0 {
		what += ", " + strings.Join(sortedKeys(states), "/")
	}
	return output.TerminalSafe(what)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// offsetCell is an offset or sequence, "-" when unknown (no commit).
func offsetCell(o int64) string {
	if o == lag.Unknown {
		return "-"
	}
	return strconv.FormatInt(o, 10)
}
