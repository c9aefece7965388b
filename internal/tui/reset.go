package tui

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/mattn/go-runewidth"

	"github.com/mqctl/mqctl/internal/audit"
	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/offsets"
	"github.com/mqctl/mqctl/internal/output"
)

// An offsets reset (O on the consumers view) is `mqctl offsets reset
// GROUP --topic TOPIC --to WHERE`: the selected row's group (or JetStream
// durable) on its topic (or stream), every partition. It goes through the
// action phases with one more in front: choosing where to.

const resetKind = "offsets reset"

// choosing: the dialog waits for a target (and its typed value).
const choosing phase = planning - 1

type resetState struct {
	group, topic string // topic: a Kafka topic or a JetStream stream
	partitioned  bool
	choice       int  // the highlighted target
	entering     bool // the highlighted target's value is being typed
	typeErr      string
	to           offsets.To
	plan         offsets.Plan
}

// resetTargets are the choices of the dialog, in its order.
var resetTargets = []struct {
	key, name, help string
	prompt          string // what to type, for the ones that take a value
}{
	{"e", "earliest", "the first message still held: all of it is read again", ""},
	{"l", "latest", "the end: everything not read yet is skipped", ""},
	{"t", "a time", "the first message at or after a time", "A time, a duration ago (1h, 90m) or RFC 3339 (2026-12-06T10:00:00Z)"},
	{"s", "shift=N", "each current position moved by N (-100 reads 100 again)", "N, a whole number: negative goes back (reads again), positive skips"},
}

type resetPlanMsg struct {
	id   string
	plan offsets.Plan
	err  error
}

// what names the reset's subject for dialogs and statuses.
func (r *resetState) what() string {
	if r.partitioned {
		return fmt.Sprintf("group %s on %s", r.group, r.topic)
	}
	return fmt.Sprintf("consumer %s of stream %s", r.group, r.topic)
}

// brief is what for a status line: the names cut (see short).
func (r *resetState) brief() string {
	if r.partitioned {
		return fmt.Sprintf("group %s on %s", short(r.group), short(r.topic))
	}
	return fmt.Sprintf("consumer %s of stream %s", short(r.group), short(r.topic))
}

// resetTarget is the group and topic of the selected consumers row.
func (m *Model) resetTarget() (int, lag.Row, bool) {
	if m.view != Consumers && m.view != Detail {
		return 0, lag.Row{}, false
	}
	rows := m.rows(m.view)
	if len(rows) == 0 {
		return 0, lag.Row{}, false
	}
	r := rows[min(m.cursor[m.view], len(rows)-1)]
	return r.ctx, m.ctxs[r.ctx].snap.Lag[r.lag], true
}

// startReset handles O.
func (m *Model) startReset() tea.Cmd {
	if !m.canAct() {
		m.status = "read-only (--read-only): offsets reset is refused"
		return nil
	}
	i, r, ok := m.resetTarget()
	if !ok {
		m.status = "O resets a consumer group's offsets: select one in the consumers view (3)"
		return nil
	}
	rs := &resetState{}
	var total int64
	switch r.Kind {
	case lag.KindPartition:
		rs.group, rs.topic, rs.partitioned = r.Group, r.Topic, true
		for _, o := range m.ctxs[i].snap.Lag {
			if o.Kind == r.Kind && o.Group == r.Group && o.Topic == r.Topic {
				total += o.Lag
			}
		}
	case lag.KindConsumer:
		rs.group, rs.topic, total = r.Consumer, r.Stream, r.Lag
	default:
		m.status = fmt.Sprintf("%s is a queue: a queue keeps no consumer position to reset (Kafka groups and JetStream durables do)", r.Queue)
		return nil
	}
	a := &action{kind: resetKind, ctx: i, dest: rs.topic, reset: rs}
	if m.opt.Audit != nil {
		a.id = m.opt.Audit.NewID()
	}
	if m.src.ReadOnly(i) {
		_ = m.record(a, audit.Refused, nil, "read-only context", nil)
		m.status = fmt.Sprintf("context %s is read-only: offsets reset of %s refused", m.ctxs[i].name, rs.brief())
		return nil
	}
	if err := m.record(a, audit.Attempted, map[string]int64{"lag": total}, "", nil); err != nil {
		m.status = fmt.Sprintf("offsets reset refused: every action is audited, and %v", err)
		return nil
	}
	a.phase = choosing
	m.act = a
	return nil
}

// chooseKey handles a key while the target is being chosen or typed.
func (m *Model) chooseKey(s string, k tea.KeyPressMsg) tea.Cmd {
	a := m.act
	rs := a.reset
	if s == "esc" || s == "ctrl+c" {
		_ = m.record(a, audit.Cancelled, nil, "no target chosen", nil)
		m.endAction("offsets reset cancelled: nothing was changed")
		return nil
	}
	if rs.entering {
		switch s {
		case "enter":
			return m.parseTyped()
		case "backspace":
			if r := []rune(a.typed); len(r) > 0 {
				a.typed = string(r[:len(r)-1])
			}
		default:
			a.typed += k.Text
		}
		rs.typeErr = ""
		return nil
	}
	switch s {
	case "up", "k":
		rs.choice = max(rs.choice-1, 0)
	case "down", "j":
		rs.choice = min(rs.choice+1, len(resetTargets)-1)
	case "enter":
		return m.choose(rs.choice)
	case "n", "q":
		_ = m.record(a, audit.Cancelled, nil, "no target chosen", nil)
		m.endAction("offsets reset cancelled: nothing was changed")
	default:
		for j, t := range resetTargets {
			if s == t.key {
				return m.choose(j)
			}
		}
	}
	return nil
}

// choose picks target j: earliest and latest plan at once, a time and a
// shift ask for their value first.
func (m *Model) choose(j int) tea.Cmd {
	rs := m.act.reset
	rs.choice = j
	t := resetTargets[j]
	if t.prompt != "" {
		rs.entering, rs.typeErr, m.act.typed = true, "", ""
		return nil
	}
	to, err := offsets.ParseTo(t.name, m.opt.Now())
	if err != nil {
		rs.typeErr = err.Error()
		return nil
	}
	return m.planReset(to)
}

// parseTyped reads the typed time or shift; a bad one stays in the
// dialog with what is wrong.
func (m *Model) parseTyped() tea.Cmd {
	a := m.act
	rs := a.reset
	v := strings.TrimSpace(a.typed)
	if resetTargets[rs.choice].key == "s" {
		to, err := offsets.ParseTo("shift="+strings.TrimPrefix(v, "+"), m.opt.Now())
		if err != nil {
			rs.typeErr = fmt.Sprintf("%q is not a whole number other than 0, such as -100", v)
			return nil
		}
		return m.planReset(to)
	}
	to, err := offsets.ParseTo(v, m.opt.Now())
	if err != nil || to.Kind != offsets.AtTime {
		rs.typeErr = fmt.Sprintf("%q is not a time: type a duration ago (1h, 90m) or an RFC 3339 time", v)
		return nil
	}
	return m.planReset(to)
}

// planReset starts the dry run: offsets.MakePlan through the source.
func (m *Model) planReset(to offsets.To) tea.Cmd {
	a := m.act
	rs := a.reset
	rs.to, rs.entering = to, false
	a.phase = planning
	ctx, cancel := context.WithTimeout(context.Background(), m.opt.Timeout)
	a.cancel = cancel
	src, i, id := m.src, a.ctx, a.id
	req := offsets.Request{Group: rs.group, Topics: []offsets.Topic{{Name: rs.topic}}, To: to}
	return func() tea.Msg {
		defer cancel()
		p, err := src.PlanReset(ctx, i, req)
		return resetPlanMsg{id: id, plan: p, err: err}
	}
}

// resetCounts sums a plan: messages skipped (read past unread) and
// replayed (read again), partitions that move, had no position, and lag
// after.
func resetCounts(p offsets.Plan) map[string]int64 {
	c := map[string]int64{"partitions": int64(len(p.Rows)), "members": int64(p.Members), "skip": 0, "replay": 0,
		"moved": 0, "new": 0, "lag_after": 0, "clamped": int64(p.Clamped())}
	for _, r := range p.Rows {
		c["lag_after"] += r.LagAfter
		switch {
		case r.Change == nil:
			c["new"]++
		case *r.Change > 0:
			c["skip"] += *r.Change
			c["moved"]++
		case *r.Change < 0:
			c["replay"] -= *r.Change
			c["moved"]++
		}
	}
	return c
}

func (m *Model) applyResetPlan(msg resetPlanMsg) {
	a := m.act
	if a == nil || a.id != msg.id || a.phase != planning || a.reset == nil {
		return
	}
	rs, p := a.reset, msg.plan
	counts := resetCounts(p)
	switch {
	case msg.err != nil:
		_ = m.record(a, audit.Failed, nil, "dry run failed", msg.err)
		m.endAction(fmt.Sprintf("offsets reset of %s: the dry run failed: %s", rs.brief(), oneLine(msg.err.Error())))
	case p.Members > 0:
		_ = m.record(a, audit.Refused, counts, "live members", broker.LiveMembers(rs.group, p.Members))
		who, what := "group", "live members"
		if !rs.partitioned {
			who = "consumer"
		}
		if p.Members == 1 {
			what = "live member"
		}
		m.endAction(fmt.Sprintf("offsets reset refused: %s %s has %d %s; stop its consumers first", who, short(rs.group), p.Members, what))
	case counts["moved"] == 0 && counts["new"] == 0:
		_ = m.record(a, audit.Refused, counts, "nothing to change", nil)
		m.endAction(fmt.Sprintf("nothing to change: %s is at %s already", rs.brief(), rs.to))
	default:
		rs.plan = p
		a.phase = confirming
	}
}

// runReset applies the confirmed plan through the source (offsets.Apply).
func (m *Model) runReset() tea.Cmd {
	a := m.act
	rs := a.reset
	if err := m.record(a, audit.Confirmed, resetCounts(rs.plan), "", nil); err != nil {
		m.endAction(fmt.Sprintf("offsets reset refused: every action is audited, and %v", err))
		return nil
	}
	a.phase = running
	a.started = m.opt.Now()
	// One commit: not cancelled by a key, bounded by the timeout.
	ctx, cancel := context.WithTimeout(context.Background(), m.opt.Timeout)
	a.cancel = cancel
	src, i, id, p := m.src, a.ctx, a.id, rs.plan
	return func() tea.Msg {
		defer cancel()
		return doneMsg{id: id, err: src.ApplyReset(ctx, i, &p)}
	}
}

// finishReset ends an applied reset; the context is read again.
func (m *Model) finishReset(msg doneMsg) tea.Cmd {
	a := m.act
	rs := a.reset
	counts := resetCounts(rs.plan)
	event, result := audit.Finished, "ok"
	summary := fmt.Sprintf("reset %s to %s: %s", rs.brief(), rs.to, resetSummary(counts, rs.partitioned))
	if msg.err != nil {
		event, result = audit.Failed, "failed"
		summary = fmt.Sprintf("offsets reset of %s failed: %s", rs.brief(), oneLine(msg.err.Error()))
	}
	if err := m.record(a, event, counts, result, msg.err); err != nil {
		summary += "; " + err.Error()
	}
	i := a.ctx
	m.endAction(summary)
	return m.read(i)
}

// resetSummary says in words what a plan's counts do.
func resetSummary(c map[string]int64, partitioned bool) string {
	unit := func(n int64) string {
		switch {
		case !partitioned:
			return ""
		case n == 1:
			return " on 1 partition"
		}
		return fmt.Sprintf(" on %d partitions", n)
	}
	var parts []string
	if c["replay"] > 0 {
		parts = append(parts, fmt.Sprintf("%d messages read again", c["replay"]))
	}
	if c["skip"] > 0 {
		parts = append(parts, fmt.Sprintf("%d messages skipped unread", c["skip"]))
	}
	s := strings.Join(parts, ", ")
	if s == "" {
		s = "no message skipped or read again"
	}
	s += unit(c["moved"])
	switch n := c["new"]; {
	case n == 1:
		s += "; 1 partition had no offset and gets one"
	case n > 1:
		s += fmt.Sprintf("; %d partitions had no offset and get one", n)
	}
	return s + fmt.Sprintf("; lag after %d", c["lag_after"])
}

// resetDialog is the reset's text in place of the table.
func (m *Model) resetDialog() []string {
	a := m.act
	rs := a.reset
	where := fmt.Sprintf("%s (%s)", rs.what(), m.ctxs[a.ctx].name)
	switch a.phase {
	case choosing:
		ls := []string{"Reset the offsets of " + where, "", "Where should it read from next?", ""}
		for j, t := range resetTargets {
			mark := "  "
			if j == rs.choice {
				mark = "> "
			}
			// Wrapped here to hang under the description (column 15).
			ls = append(ls, wrapIndent(fmt.Sprintf("%s%s  %-9s %s", mark, t.key, t.name, t.help), max(m.width, 20), 15)...)
		}
		ls = append(ls, "")
		if rs.entering {
			ls = append(ls, resetTargets[rs.choice].prompt+":", "> "+a.typed+"█")
		}
		if rs.typeErr != "" {
			ls = append(ls, rs.typeErr)
		}
		return append(ls, "", "Nothing changes yet: a dry run shows the plan first, and y applies it.")
	case planning:
		return []string{"Reset the offsets of " + where + " to " + rs.to.String(), "",
			"Dry run: reading the group's positions…", "", "Esc cancels."}
	case running:
		return []string{"Resetting the offsets of " + where + " to " + rs.to.String() + "…"}
	}
	p := rs.plan
	c := resetCounts(p)
	head := "PARTITION"
	if !p.Partitioned {
		head = "STREAM"
	}
	// The cells first, to size the columns: a name made safe is measured
	// (an escaped control byte is four columns, a wide character two).
	type cells struct{ topic, part, cur, new, what string }
	rows := make([]cells, len(p.Rows))
	ww, lw, cw, nw := len("WHAT IT DOES"), len(head), len("CURRENT"), len("NEW")
	for j, r := range p.Rows {
		cl := cells{topic: output.TerminalSafe(r.Topic), cur: "-", new: strconv.FormatInt(r.New, 10), what: "starts here (had none)"}
		if p.Partitioned {
			cl.part = "/" + strconv.Itoa(int(r.Partition))
		}
		if r.Current != nil {
			cl.cur = strconv.FormatInt(*r.Current, 10)
			switch d := *r.Change; {
			case d > 0:
				cl.what = fmt.Sprintf("skips %d", d)
			case d < 0:
				cl.what = fmt.Sprintf("reads %d again", -d)
			default:
				cl.what = "no change"
			}
		}
		if r.Clamped != "" {
			cl.what += " (" + r.Clamped + ")"
		}
		rows[j] = cl
		ww = max(ww, runewidth.StringWidth(cl.what))
		lw = max(lw, runewidth.StringWidth(cl.topic+cl.part))
		cw, nw = max(cw, len(cl.cur)), max(nw, len(cl.new))
	}
	// The label column gets what the others leave, at least 12 columns
	// and at most 30; a longer name is cut ("…"), its partition kept: the
	// heading and the command below name it whole.
	w := max(m.width, 20)
	lw = min(lw, 30, max(w-(2+1+cw+3+nw+1+ww+1+len("LAG AFTER")), 12))
	label := func(cl cells) string {
		l := runewidth.Truncate(cl.topic, max(lw-len(cl.part), 1), "…") + cl.part
		return l + strings.Repeat(" ", max(lw-runewidth.StringWidth(l), 0))
	}
	// The prose is wrapped here to count its lines, and again when drawn;
	// the heading stays one line: the dialog's first, which it keeps whole
	// on a screen too short for all of it.
	heading := "Reset the offsets of " + where + " to " + p.To + ":"
	top := []string{heading, "", fmt.Sprintf("  %-*s %*s   %-*s %-*s %s", lw, head, cw, "CURRENT", nw, "NEW", ww, "WHAT IT DOES", "LAG AFTER")}
	foot := append([]string{""}, wrapSafe("In all: "+resetSummary(c, p.Partitioned)+".", w)...)
	if n := c["clamped"]; n > 0 {
		foot = append(foot, wrapSafe(fmt.Sprintf("%d clamped to [log start, high watermark]: the target was outside it.", n), w)...)
	}
	foot = append(foot, wrapSafe("y will "+p.Action+", as mqctl offsets reset "+output.ShellWord(p.Group)+" --topic "+output.ShellWord(rs.topic)+
		" --to "+output.ShellWord(p.To)+" --execute does; refused if a member joins first.", w)...)
	foot = append(foot, "", "y resets;  n or Esc cancels (nothing is changed).")
	// As many rows as fit between them on this screen (less the title,
	// status and key lines), the last one saying how many more there are.
	room := max(m.height-3-len(wrapSafe(heading, w))-2-len(foot), 2)
	ls := top
	for j, r := range p.Rows {
		if j == room-1 && len(p.Rows) > room {
			ls = append(ls, fmt.Sprintf("  … and %d more (mqctl offsets reset without --execute lists them all)", len(p.Rows)-j))
			break
		}
		ls = append(ls, fmt.Sprintf("  %s %*s → %-*s %-*s %d", label(rows[j]), cw, rows[j].cur, nw, rows[j].new, ww, rows[j].what, r.LagAfter))
	}
	return append(ls, foot...)
}
