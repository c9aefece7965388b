package tui

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/mattn/go-runewidth"

	"github.com/mqctl/mqctl/internal/audit"
	"github.com/mqctl/mqctl/internal/dlq"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

// An action (replay or purge of a dead-letter destination, an offsets
// reset of a consumer group) goes through phases; at most one exists at a
// time and while it does it owns the keys.
type phase int

const (
	planning   phase = iota + 1 // the replay's dry run is running
	confirming                  // the dialog waits for y, or for the typed name
	running                     // the action runs; Esc or Ctrl-C cancels it
)

type action struct {
	id      string
	kind    string // "replay", "purge", resetKind
	ctx     int
	dest    string
	depth   int64 // at the last refresh
	phase   phase
	plan    Plan
	typed   string // purge: what the user typed so far
	cancel  context.CancelFunc
	stats   *dlq.MoveStats
	started time.Time
	stop    bool // cancel asked while running
	reset   *resetState
}

type (
	planMsg struct {
		id   string
		plan Plan
		err  error
	}
	doneMsg struct {
		id     string
		purged int64
		err    error
	}
	progressMsg struct{ id string }
)

const progressEvery = 200 * time.Millisecond

// canAct says whether the actions' keys are bound at all: not with
// --read-only (a read-only context refuses its own rows).
func (m *Model) canAct() bool { return !m.opt.ReadOnly }

// actionTarget is the dead-letter destination R and X act on: the
// selected row of the dead-letter view, or the one being browsed.
func (m *Model) actionTarget() (ctx int, dest string, depth int64, ok bool) {
	switch m.view {
	case DeadLetters:
		rows := m.rows(DeadLetters)
		if len(rows) == 0 {
			return 0, "", 0, false
		}
		r := rows[min(m.cursor[DeadLetters], len(rows)-1)]
		ctx, dest = r.ctx, r.name
	case Browser:
		ctx, dest = m.peek.ctx, m.peek.dest
	default:
		return 0, "", 0, false
	}
	for _, d := range m.ctxs[ctx].snap.DeadLetters {
		if d.Name == dest {
			return ctx, dest, d.Messages, true
		}
	}
	return 0, "", 0, false
}

func (m *Model) record(a *action, event string, counts map[string]int64, result string, err error) error {
	if m.opt.Audit == nil {
		return fmt.Errorf("no audit log")
	}
	r := audit.Record{ID: a.id, Via: "top", Context: m.ctxs[a.ctx].name, Broker: m.ctxs[a.ctx].snap.Broker, Action: a.kind,
		Destination: a.dest, Event: event, Counts: counts, Result: result}
	if err != nil {
		r.Error = oneLine(err.Error())
	}
	if a.reset != nil {
		r.Group, r.To = a.reset.group, a.reset.to.String()
		if a.reset.to.Kind == 0 {
			r.To = ""
		}
	}
	return m.opt.Audit.Append(r)
}

// startAction handles R (replay) and X (purge).
func (m *Model) startAction(kind string) tea.Cmd {
	if !m.canAct() {
		m.status = "read-only (--read-only): replay and purge are refused"
		return nil
	}
	i, dest, depth, ok := m.actionTarget()
	if !ok {
		m.status = kind + " acts on a dead-letter destination: select one in the dead letters view (4)"
		return nil
	}
	a := &action{kind: kind, ctx: i, dest: dest, depth: depth}
	if m.opt.Audit != nil {
		a.id = m.opt.Audit.NewID()
	}
	name := m.ctxs[i].name
	if m.src.ReadOnly(i) {
		_ = m.record(a, audit.Refused, nil, "read-only context", nil)
		m.status = fmt.Sprintf("context %s is read-only: %s of %s refused", name, kind, short(dest))
		return nil
	}
	if err := m.record(a, audit.Attempted, map[string]int64{"depth": depth}, "", nil); err != nil {
		m.status = fmt.Sprintf("%s refused: every action is audited, and %v", kind, err)
		return nil
	}
	m.act = a
	if kind == "purge" {
		a.phase = confirming
		return nil
	}
	a.phase = planning
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	src, id := m.src, a.id
	return func() tea.Msg {
		defer cancel()
		p, err := src.PlanReplay(ctx, i, dest)
		return planMsg{id: id, plan: p, err: err}
	}
}

// short is a name as a status line quotes it: made safe and cut to 32
// columns, so that what the line says after it (a replay's counts) is not
// cut off the screen by a long name; the dialogs show names whole.
func short(name string) string { return runewidth.Truncate(output.TerminalSafe(name), 32, "…") }

func (m *Model) endAction(status string) {
	if m.act != nil && m.act.cancel != nil {
		m.act.cancel()
	}
	m.act = nil
	m.status = status
}

func (m *Model) applyPlan(msg planMsg) {
	a := m.act
	if a == nil || a.id != msg.id || a.phase != planning {
		return
	}
	p := msg.plan
	counts := map[string]int64{"read": p.Read, "replay": p.Replay, "left": p.Left}
	switch {
	case msg.err != nil:
		_ = m.record(a, audit.Failed, counts, "dry run failed", msg.err)
		m.endAction(fmt.Sprintf("replay %s: the dry run failed: %s", short(a.dest), oneLine(msg.err.Error())))
	case p.Replay == 0:
		_ = m.record(a, audit.Refused, counts, "nothing to replay", nil)
		m.endAction(fmt.Sprintf("nothing to replay in %s: read %d, left in place %d (they do not say where they came from)", short(a.dest), p.Read, p.Left))
	default:
		a.plan = p
		a.phase = confirming
	}
}

// actionKey handles a key while an action exists.
func (m *Model) actionKey(s string, k tea.KeyPressMsg) tea.Cmd {
	a := m.act
	switch a.phase {
	case choosing:
		return m.chooseKey(s, k)
	case planning:
		if s == "esc" || s == "ctrl+c" || s == "n" {
			_ = m.record(a, audit.Cancelled, nil, "cancelled during the dry run", nil)
			m.endAction(a.kind + " cancelled")
		}
	case confirming:
		if a.kind == "purge" {
			return m.purgeKey(s, k)
		}
		switch s {
		case "y", "Y":
			if a.reset != nil {
				return m.runReset()
			}
			return m.run()
		case "n", "N", "esc", "ctrl+c", "enter", "q":
			_ = m.record(a, audit.Cancelled, nil, "not confirmed", nil)
			m.endAction(a.kind + " cancelled: nothing was changed")
		}
	case running:
		if a.reset != nil {
			m.status = "the new offsets are being stored: one request, wait for its answer"
			return nil
		}
		switch s {
		case "esc", "ctrl+c":
			if !a.stop {
				a.stop = true
				a.cancel()
			}
		case "q":
			m.status = "an action is running: Esc cancels it first"
		}
	}
	return nil
}

func (m *Model) purgeKey(s string, k tea.KeyPressMsg) tea.Cmd {
	a := m.act
	switch s {
	case "esc", "ctrl+c":
		_ = m.record(a, audit.Cancelled, nil, "not confirmed", nil)
		m.endAction("purge cancelled: nothing was changed")
	case "enter":
		// The name as the dialog shows it counts too: a name with a
		// control byte in it is shown escaped, and cannot be typed raw.
		if a.typed == a.dest || a.typed == output.TerminalSafe(a.dest) {
			return m.run()
		}
		_ = m.record(a, audit.Cancelled, nil, "not confirmed: typed "+strconv.Quote(a.typed), nil)
		m.endAction(fmt.Sprintf(`purge not confirmed, nothing was changed: you typed "%s", not "%s"`, short(a.typed), short(a.dest)))
	case "backspace":
		if r := []rune(a.typed); len(r) > 0 {
			a.typed = string(r[:len(r)-1])
		}
	default:
		a.typed += k.Text
	}
	return nil
}

// run starts the confirmed action as a command, with progress ticks.
func (m *Model) run() tea.Cmd {
	a := m.act
	counts := map[string]int64{"depth": a.depth}
	if a.kind == "replay" {
		counts = map[string]int64{"read": a.plan.Read, "replay": a.plan.Replay, "left": a.plan.Left}
	}
	if err := m.record(a, audit.Confirmed, counts, "", nil); err != nil {
		m.endAction(fmt.Sprintf("%s refused: every action is audited, and %v", a.kind, err))
		return nil
	}
	a.phase = running
	a.started = m.opt.Now()
	a.stats = &dlq.MoveStats{}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	src, i, dest, id, st := m.src, a.ctx, a.dest, a.id, a.stats
	limit := a.plan.Replay + a.plan.Left
	var work tea.Cmd
	if a.kind == "purge" {
		work = func() tea.Msg {
			defer cancel()
			n, err := src.Purge(ctx, i, dest)
			return doneMsg{id: id, purged: n, err: err}
		}
	} else {
		work = func() tea.Msg {
			defer cancel()
			return doneMsg{id: id, err: src.Replay(ctx, i, dest, limit, st)}
		}
	}
	return tea.Batch(work, m.opt.Tick(progressEvery, progressMsg{id: id}))
}

func (m *Model) progress(msg progressMsg) tea.Cmd {
	if m.act == nil || m.act.id != msg.id || m.act.phase != running {
		return nil
	}
	return m.opt.Tick(progressEvery, msg)
}

func (m *Model) finish(msg doneMsg) tea.Cmd {
	a := m.act
	if a == nil || a.id != msg.id || a.phase != running {
		return nil
	}
	if a.reset != nil {
		return m.finishReset(msg)
	}
	var counts map[string]int64
	var summary string
	if a.kind == "purge" {
		counts = map[string]int64{"purged": msg.purged}
		summary = fmt.Sprintf("purged %d dead letters from %s", msg.purged, short(a.dest))
	} else {
		st := a.stats
		counts = map[string]int64{"read": st.Read.Load(), "replayed": st.Forwarded.Load(), "skipped": st.Skipped.Load(),
			"left": st.Left.Load(), "failed": st.Failed.Load(), "duplicates": st.Duplicates.Load()}
		summary = "replay " + short(a.dest) + ": " + st.Summary("replayed", m.opt.Now().Sub(a.started))
	}
	event, result := audit.Finished, "ok"
	switch {
	case msg.err == nil:
	case a.stop:
		event, result = audit.Cancelled, "interrupted"
		summary += "; cancelled: in-flight confirms were awaited"
	case mqerr.Is(msg.err, mqerr.Partial):
		event, result = audit.Failed, "partial"
		summary += ": " + oneLine(msg.err.Error())
	default:
		event, result = audit.Failed, "failed"
		summary = fmt.Sprintf("%s %s failed: %s", a.kind, short(a.dest), oneLine(msg.err.Error()))
	}
	if err := m.record(a, event, counts, result, msg.err); err != nil {
		summary += "; " + err.Error()
	}
	i := a.ctx
	m.endAction(summary)
	if m.peek.dest == a.dest && m.peek.ctx == i {
		return tea.Batch(m.read(i), m.repeek())
	}
	return m.read(i)
}

// dialog is the action's text in place of the table.
func (m *Model) dialog() []string {
	a := m.act
	if a.reset != nil {
		return m.resetDialog()
	}
	where := fmt.Sprintf("%s (%s)", a.dest, m.ctxs[a.ctx].name)
	switch a.phase {
	case planning:
		return []string{"Replay " + where, "", "Dry run: reading what the replay would read…", "", "Esc cancels."}
	case running:
		if a.kind == "purge" {
			return []string{"Purging " + where + "…", "", "Esc cancels (a purge the broker has started may still complete)."}
		}
		st := a.stats
		ls := []string{"Replaying " + where + "…", "",
			fmt.Sprintf("  read %d  replayed %d  skipped %d  left %d  failed %d  (of %d)", st.Read.Load(), st.Forwarded.Load(),
				st.Skipped.Load(), st.Left.Load(), st.Failed.Load(), a.plan.Replay), ""}
		if a.stop {
			return append(ls, "Cancelling: reading stopped, waiting for the confirms in flight…")
		}
		return append(ls, "Esc or Ctrl-C cancels: reading stops, copies in flight are confirmed and settled, nothing is lost.")
	}
	if a.kind == "purge" {
		return []string{
			"Purge " + where,
			"",
			fmt.Sprintf("Deletes every dead letter %s holds now (%d at the last refresh).", a.dest, a.depth),
			"This cannot be undone, and nothing is exported (mqctl dlq purge --export keeps a copy).",
			"",
			"Type the name, " + a.dest + ", and Enter to purge; Esc cancels.",
			"> " + a.typed + "█",
		}
	}
	p := a.plan
	ls := []string{fmt.Sprintf("Replay %d dead letters of %s to where they came from:", p.Replay, where), ""}
	dests := make([]string, 0, len(p.To))
	for d := range p.To {
		dests = append(dests, d)
	}
	slices.Sort(dests)
	for j, d := range dests {
		if j == 8 {
			ls = append(ls, fmt.Sprintf("  … and %d more destinations", len(dests)-j))
			break
		}
		ls = append(ls, fmt.Sprintf("  %6d → %s", p.To[d], d))
	}
	ls = append(ls, "")
	if p.Left > 0 {
		ls = append(ls, fmt.Sprintf("%d stay where they are: they do not say where they came from.", p.Left))
	}
	ls = append(ls, "Each one is "+p.Settle+" only after the broker confirmed its copy.",
		"At most the ones read now; any that arrive meanwhile wait for the next replay.")
	if p.Marked {
		ls = append(ls, fmt.Sprintf("The dry run read %d and put them back marked redelivered.", p.Read))
	}
	return append(ls, "", "y replays;  n or Esc cancels (nothing is changed).")
}

// dialogLines writes the dialog, each line made safe and then wrapped to
// w columns, and returns the lines used: at most the screen less the
// title, status and key lines. A dialog taller than that keeps its first
// line (what it acts on) and its last ones (what to type or press), with
// "…" for what is left out between them.
func (m *Model) dialogLines(b *strings.Builder, w int) int {
	var ls []string
	head := 0 // lines of the first, wrapped
	for j, l := range m.dialog() {
		ls = append(ls, wrapSafe(l, w)...)
		if j == 0 {
			head = len(ls)
		}
	}
	if room := max(m.height-3, 1); len(ls) > room {
		head = min(head, room/2)
		ls = append(append(ls[:head:head], "…"), ls[len(ls)-(room-head-1):]...)
	}
	for _, l := range ls {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return len(ls)
}
