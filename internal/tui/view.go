package tui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	tea "charm.land/bubbletea/v2"
	"github.com/mattn/go-runewidth"

	"github.com/mqctl/mqctl/internal/dlq"
	"github.com/mqctl/mqctl/internal/output"
)

// column: title, minimum width, whether it stretches to fill, whether a
// cut keeps its end (a trend: the newest samples are on the right), and
// when it is left out of a screen too narrow for all (1 first; 0 never).
type column struct {
	title string
	min   int
	flex  bool
	tail  bool
	drop  int
}

// staleTitle heads the column that says how old a stale context's rows
// are ("stale 37s"). It is left out while no row is stale: a column of
// blanks titled AGE beside a dead-letter queue's OLDEST read as a
// message age the broker had not given.
const staleTitle = "STALE"

func (m *Model) columns(v View) []column {
	switch v {
	case Overview:
		return []column{{"CONTEXT", 10, true, false, 0}, {"BROKER", 8, false, false, 2}, {"REACH", 10, true, false, 0}, {"DESTS", 5, false, false, 1},
			{"LAG", 6, false, false, 0}, {"DLQ", 5, false, false, 0}, {"WORST", 6, false, false, 0}, {staleTitle, 9, false, false, 0}}
	case Destinations:
		return []column{{"CONTEXT", 8, false, false, 0}, {"NAME", 12, true, false, 0}, {"TYPE", 6, false, false, 2}, {"DEPTH", 7, false, false, 0},
			{"IN/s", 5, false, false, 4}, {"OUT/s", 5, false, false, 3}, {"CONS", 4, false, false, 5}, {"TREND", 10, false, true, 1}, {staleTitle, 9, false, false, 0}}
	case Consumers:
		return []column{{"CONTEXT", 8, false, false, 0}, {"NAME", 10, true, false, 0}, {"ON", 8, true, false, 0}, {"LAG", 7, false, false, 0},
			{"TIME", 5, false, false, 2}, {"TREND", 10, false, true, 1}, {"STATUS", 6, false, false, 0}, {staleTitle, 9, false, false, 0}}
	case DeadLetters:
		return []column{{"CONTEXT", 8, false, false, 0}, {"NAME", 12, true, false, 0}, {"TYPE", 6, false, false, 2}, {"DEPTH", 6, false, false, 0},
			{"OLDEST", 6, false, false, 4}, {"TOP REASON", 11, true, false, 0}, {"ORIGIN", 7, true, false, 3}, {"WHY", 4, true, false, 1}, {staleTitle, 9, false, false, 0}}
	case Detail:
		return m.detailColumns()
	}
	return []column{{"#", 4, false, false, 0}, {"TIME", 8, false, false, 1}, {"ORIGIN", 10, true, false, 0}, {"REASON", 10, true, false, 0}, {"SIZE", 6, false, false, 2}}
}

// pageRows is how many table rows fit: the screen less title, header,
// status and key lines (and the detail pane in the browser).
func (m *Model) pageRows() int {
	n := m.height - 4
	switch m.view {
	case Browser:
		n = (m.height - 4) / 3
	case Detail:
		if n > 1 {
			n-- // the summary line, on a screen with room for it
		}
	}
	return max(n, 1)
}

// View renders the screen.
func (m *Model) View() tea.View {
	v := tea.NewView(m.Content())
	v.AltScreen = true
	v.WindowTitle = "mqctl top"
	return v
}

// Content is the screen as text, without colour: what the golden files hold.
func (m *Model) Content() string {
	var b strings.Builder
	w := max(m.width, 20)
	title := "mqctl top · " + viewNames[m.view]
	switch m.view {
	case Browser:
		title += " · " + output.TerminalSafe(m.ctxs[m.peek.ctx].name+"/"+m.peek.dest)
	case Detail:
		title += " · " + output.TerminalSafe(m.ctxs[m.sel.ctx].name+"/"+m.sel.name)
	}
	if m.paused {
		title += " · PAUSED"
	}
	if m.opt.ReadOnly {
		title += " · read-only"
	}
	if f := m.filter[m.view]; f != "" && m.mode != '/' {
		title += " · /" + output.TerminalSafe(f)
	}
	b.WriteString(fit(title, w))
	b.WriteByte('\n')
	used := 1
	switch {
	case m.act != nil:
		used += m.dialogLines(&b, w)
	case m.help:
		_, hh := m.helpSize()
		for _, l := range m.helpScreen(w, hh) {
			b.WriteString(l)
			b.WriteByte('\n')
			used++
		}
	default:
		if m.view == Detail && m.height-4 > 1 {
			b.WriteString(fit(m.detailSummary(), w))
			b.WriteByte('\n')
			used++
		}
		used += m.table(&b, w)
		if m.view == Browser {
			used += m.detail(&b, w, m.height-used-2)
		}
	}
	for ; used < m.height-2; used++ {
		b.WriteByte('\n')
	}
	var status string
	if m.paused {
		status = m.pausedLine() + " · "
	}
	if m.status != "" {
		status += output.TerminalSafe(m.status) + " · "
	}
	status += m.errorLine(w - runewidth.StringWidth(status))
	b.WriteString(fit(strings.TrimSuffix(status, " · "), w))
	b.WriteByte('\n')
	switch {
	case m.act != nil:
		b.WriteString(fit(m.actionKeys(), w))
	case m.mode == '/' || m.mode == ':':
		b.WriteString(fit(string(m.mode)+output.TerminalSafe(m.input)+"█", w))
	default:
		b.WriteString(fit(keyHints(m.actionHints(), w), w))
	}
	return b.String()
}

// pausedLine says that the rows stopped refreshing, and as of when: a
// paused view's rows age, and must not read as a broker that stopped
// answering.
func (m *Model) pausedLine() string {
	return fmt.Sprintf("paused: rows as of %s (%s ago); p resumes, r reads once", m.asOf.Format("15:04:05"), shortAge(m.opt.Now().Sub(m.asOf)))
}

// actionKeys says which actions' keys a view binds.
type actionKeys int

const (
	noActionKeys   actionKeys = iota
	deadLetterKeys            // R replay, X purge
	consumerKeys              // O offsets reset
)

// actionHints are the action keys of the view on screen: none with
// --read-only.
func (m *Model) actionHints() actionKeys {
	switch {
	case !m.canAct():
		return noActionKeys
	case m.view == DeadLetters || m.view == Browser:
		return deadLetterKeys
	case m.view == Consumers || m.view == Detail:
		return consumerKeys
	}
	return noActionKeys
}

// hints are the footer's key hints in display order; drop says which go
// first when the line is too narrow (1 first; 0 never: help and quit).
var hints = []struct {
	text   string
	drop   int
	action actionKeys // shown only where these actions act; 0 everywhere
}{
	{"R replay", 9, deadLetterKeys}, {"X purge", 8, deadLetterKeys}, {"O reset", 9, consumerKeys},
	{"1-5 views", 7, 0}, {"/ filter", 5, 0}, {"s/S sort", 1, 0}, {"p pause", 2, 0}, {"r refresh", 3, 0},
	{"Enter open", 6, 0}, {"Esc back", 4, 0}, {"? help", 0, 0}, {"q quit", 0, 0},
}

// keyHints is the footer for w columns: the least important hints are
// left out until the rest fit, so ? help and q quit stay at 80x24.
func keyHints(actions actionKeys, w int) string {
	var shown []int
	width := 0
	for i, h := range hints {
		if h.action != noActionKeys && h.action != actions {
			continue
		}
		shown = append(shown, i)
		width += runewidth.StringWidth(h.text) + 2
	}
	width -= 2
	for drop := 1; width > w && drop <= 9; drop++ {
		for j, i := range shown {
			if hints[i].drop == drop {
				width -= runewidth.StringWidth(hints[i].text) + 2
				shown = slices.Delete(shown, j, j+1)
				break
			}
		}
	}
	texts := make([]string, len(shown))
	for j, i := range shown {
		texts[j] = hints[i].text
	}
	return strings.Join(texts, "  ")
}

func (m *Model) actionKeys() string {
	a := m.act
	switch {
	case a.reset != nil && a.phase == choosing && a.reset.entering:
		return "type, Enter dry run  Esc cancel"
	case a.reset != nil && a.phase == choosing:
		return "↑↓ Enter or e/l/t/s choose  Esc cancel"
	case a.reset != nil && a.phase == running:
		return "storing the new offsets…"
	case a.reset != nil && a.phase == confirming:
		return "y reset  n/Esc cancel"
	case a.phase == running:
		return "Esc or Ctrl-C cancel " + a.kind
	case a.phase == planning:
		return "Esc cancel"
	case a.kind == "purge":
		return "type the name, Enter purge  Esc cancel"
	}
	return "y replay  n/Esc cancel"
}

// helpLines are the keys (the action keys when they are bound), then the
// notes.
func (m *Model) helpLines() []string {
	ls := slices.Clone(helpKeys)
	if m.canAct() {
		ls = append(ls, actionHelp...)
	} else {
		ls = append(ls, "Read-only (--read-only): replay, purge and offsets reset are off.")
	}
	return append(ls, helpNotes...)
}

// A help line is a note, or two spaces, a key and its description from
// column helpKeyCol, on one line each: helpScreen wraps them to the
// screen, a key's description under itself. At 80x24 the keys fit on
// the first screen; the notes scroll.
const helpKeyCol = 17

var actionHelp = []string{
	"  R              replay the selected dead-letter queue (a dry run first, then y)",
	"  X              purge it (type its name); both run as mqctl dlq replay/purge do, are audited, and Esc cancels them (a read-only context refuses them).",
	"  O              reset a consumer group's offsets: earliest, latest, a time or shift=N; a dry run, then y; refused while it has live members.",
}

var helpKeys = []string{
	"Keys",
	"  1-5 or :name   views: overview, destinations, consumers, deadletters, browser",
	"  /              filter rows (Esc clears)",
	"  s / S          next sort column / reverse order",
	"  j k ↑ ↓ g G    move; PgUp PgDn page (and scroll this help)",
	"  Enter          drill down: peek a destination or dead-letter queue; in consumers, the group's partitions (offsets, lag, member)",
	"  Esc            back",
	"  p / r          pause refreshes (the status line says since when) / refresh now",
	"  q              quit;  Ctrl-C interrupt (exit 130)",
}

var helpNotes = []string{
	"Peeking never acks or commits; RabbitMQ marks peeked messages redelivered.",
	"Dead letters: TOP REASON and ORIGIN count the first 100 of each, read again when its depth changes (Kafka commits nothing, JetStream acks nothing).",
	"RabbitMQ shows (not read): reading marks them redelivered (dlq ls --sample N).",
	"IN/s OUT/s: messages a second between two refreshes (end offsets or last sequence; the fastest group's commits or ack floor), or RabbitMQ's own rates.",
	"TIME: age of the next message to handle (RabbitMQ: the publish timestamp of the oldest ready message, classic queues only), read with the lag every 10 s or so and aged in between; ≤ once the consumer moved on since; - unknown.",
	"STATUS and WORST: lag --watch's verdict once a row has 5 refreshes (…2/5 until then). STALE: how old the rows of a context that stopped answering are.",
}

// helpWrapped is the help wrapped to w columns.
func (m *Model) helpWrapped(w int) []string {
	var ls []string
	for _, l := range m.helpLines() {
		ind := 0
		if strings.HasPrefix(l, "  ") {
			ind = helpKeyCol
		}
		ls = append(ls, wrapIndent(l, w, ind)...)
	}
	return ls
}

// helpSize is the help's width and height on this screen (as Content
// lays it out).
func (m *Model) helpSize() (w, h int) { return max(m.width, 20), max(m.height-3, 1) }

// helpScreen is the help wrapped to w columns in at most h lines. On a
// screen too short it scrolls: h-1 lines from helpTop, and a last line
// that says which lines these are and how to see the others.
func (m *Model) helpScreen(w, h int) []string {
	ls := m.helpWrapped(w)
	if h = max(h, 1); len(ls) <= h {
		return ls
	}
	// At least one line of help shows, even on a one-line screen.
	top := max(0, min(m.helpTop, len(ls)-max(h-1, 1)))
	shown := ls[top : top+h-1]
	more := fmt.Sprintf("── lines %d-%d of %d: j/k ↑↓ PgUp PgDn scroll, Esc closes", top+1, top+h-1, len(ls))
	if h == 1 {
		more = fmt.Sprintf("── help line %d of %d: j/k scroll", top+1, len(ls))
	}
	return append(shown[:len(shown):len(shown)], fit(more, w))
}

// helpKey scrolls the help with the keys that move a table's cursor; it
// says whether s was one of them (any other key closes the help).
func (m *Model) helpKey(s string) bool {
	w, h := m.helpSize()
	last := max(0, len(m.helpWrapped(w))-max(h-1, 1))
	page := max(h-1, 1)
	switch s {
	case "up", "k":
		m.helpTop--
	case "down", "j":
		m.helpTop++
	case "pgup":
		m.helpTop -= page
	case "pgdown", "space":
		m.helpTop += page
	case "home", "g":
		m.helpTop = 0
	case "end", "G":
		m.helpTop = last
	default:
		return false
	}
	m.helpTop = max(0, min(m.helpTop, last))
	return true
}

// table writes the header and the visible rows only; it returns lines used.
func (m *Model) table(b *strings.Builder, w int) int {
	cols := m.columns(m.view)
	rows := m.rows(m.view)
	sortCol := m.sortCol[m.view]
	if m.view == Browser {
		sortCol = -1
	}
	widths := m.layout(cols, rows, w-2, sortCol)
	var hdr []string
	for i, c := range cols {
		t := c.title
		if i == sortCol {
			if m.sortDesc[m.view] {
				t += "↓"
			} else {
				t += "↑"
			}
		}
		hdr = append(hdr, t)
	}
	b.WriteString(line("  ", hdr, widths, cols, w))
	n := m.pageRows()
	if len(rows) == 0 {
		msg := "  (no rows)"
		if m.view == Browser {
			switch {
			case m.peek.loading:
				msg = "  peeking…"
			case m.peek.err != nil:
				msg = "  peek failed: " + output.TerminalSafe(oneLine(m.peek.err.Error()))
			default:
				msg = "  (empty)"
			}
		}
		b.WriteString(fit(msg, w))
		b.WriteByte('\n')
		return 2
	}
	cur := min(m.cursor[m.view], len(rows)-1)
	top := 0
	if cur >= n {
		top = cur - n + 1
	}
	used := 1
	for i := top; i < len(rows) && i < top+n; i++ {
		mark := "  "
		if i == cur {
			mark = "> "
		}
		b.WriteString(line(mark, m.cellsOf(&rows[i]), widths, cols, w))
		used++
	}
	return used
}

// layout gives each column the width of its widest cell (among the first
// rows; at least its minimum, or only its title when every cell is empty;
// none for STALE while no row is stale; at most 60). When that is too wide,
// flexible and wide columns shrink towards their minimum, then columns are
// left out (width 0) in their drop order, and only then does any column
// shrink to its minimum (CONTEXT cut to "sandbox…" no longer tells
// contexts apart); room left over goes back to columns cut, the
// flexible ones first.
func (m *Model) layout(cols []column, rows []row, w, sortCol int) []int {
	widths := make([]int, len(cols))
	wants := make([]int, len(cols))
	for i, c := range cols {
		want, empty := runewidth.StringWidth(c.title), true
		if i == sortCol {
			want++ // the arrow
		}
		for j := range rows[:min(len(rows), 200)] {
			if cw := runewidth.StringWidth(m.cellsOf(&rows[j])[i]); cw > 0 {
				want, empty = max(want, cw), false
			}
		}
		switch {
		case !empty:
			want = max(want, c.min)
		case c.title == staleTitle && i != sortCol:
			want = 0
		}
		wants[i], widths[i] = want, min(want, 60)
	}
	total := func() int {
		n := 0
		for _, x := range widths {
			if x > 0 {
				n += x + 1
			}
		}
		return n
	}
	shrink := func(wide int) {
		for shrunk := true; shrunk && total() > w; {
			shrunk = false
			for i, c := range cols {
				if total() > w && widths[i] > c.min && (c.flex || widths[i] > wide) {
					widths[i]--
					shrunk = true
				}
			}
		}
	}
	shrink(12)
	shrink(10)
	for d := 1; d <= len(cols) && total() > w; d++ {
		for i, c := range cols {
			if c.drop == d {
				widths[i] = 0
			}
		}
	}
	shrink(0)
	// Room left (after a column was left out, or under a cap) goes to the
	// flexible columns first: names before contexts.
	for _, flex := range []bool{true, false} {
		for i, c := range cols {
			if spare := w - total(); spare > 0 && c.flex == flex && widths[i] > 0 && wants[i] > widths[i] {
				widths[i] += min(spare, wants[i]-widths[i])
			}
		}
	}
	return widths
}

// line writes the cells of the columns shown (width above 0).
func line(mark string, cells []string, widths []int, cols []column, w int) string {
	var b strings.Builder
	b.WriteString(mark)
	sep := false
	for i, c := range cells {
		if widths[i] == 0 {
			continue
		}
		if sep {
			b.WriteByte(' ')
		}
		sep = true
		b.WriteString(pad(c, widths[i], cols[i].tail))
	}
	return fit(strings.TrimRight(b.String(), " "), w) + "\n"
}

// pad cuts s to w columns, from the left when tail (its end matters
// most), and fills it with spaces to w.
func pad(s string, w int, tail bool) string {
	if sw := runewidth.StringWidth(s); tail && sw > w {
		s = runewidth.TruncateLeft(s, sw-w, "")
	} else {
		s = runewidth.Truncate(s, w, "…")
	}
	return s + strings.Repeat(" ", max(0, w-runewidth.StringWidth(s)))
}

func fit(s string, w int) string { return runewidth.Truncate(s, w, "…") }

// wrapSafe makes s safe for a terminal and then wraps it to w columns:
// in that order, as escaping a control byte makes a line wider.
func wrapSafe(s string, w int) []string { return wrap(output.TerminalSafe(s), w) }

// wrap breaks s, already safe, into lines of at most w columns: at the
// last space that fits, or inside a word (a name) longer than a line. A
// line's leading spaces (up to half of w) indent its continuation lines
// too, so an indented row stays indented. A line that fits comes back as
// it is, spaces and all.
func wrap(s string, w int) []string { return wrapIndent(s, w, len(s)-len(strings.TrimLeft(s, " "))) }

// wrapIndent is wrap with continuation lines indented by ind spaces (up to
// half of w).
func wrapIndent(s string, w, ind int) []string {
	w = max(w, 2)
	indent := strings.Repeat(" ", min(ind, w/2))
	var ls []string
	for prefix := ""; ; prefix = indent {
		s = prefix + s
		if runewidth.StringWidth(s) <= w {
			return append(ls, s)
		}
		head := runewidth.Truncate(s, w, "")
		if len(head) <= len(prefix) {
			// Not one character fits after the indent: take one anyway.
			_, n := utf8.DecodeRuneInString(s[len(prefix):])
			head = s[:len(prefix)+n]
		}
		rest := s[len(head):]
		if sp := strings.LastIndexByte(head, ' '); sp > len(indent) && !strings.HasPrefix(rest, " ") {
			head, rest = s[:sp], s[sp+1:]
		}
		ls = append(ls, strings.TrimRight(head, " "))
		if s = strings.TrimLeft(rest, " "); s == "" {
			return ls
		}
	}
}

func (m *Model) browserRow(j int) row {
	msg := &m.peek.msgs[j]
	o := dlq.DecodeOrigin(m.peek.broker, msg)
	t := "-"
	if !msg.Timestamp.IsZero() {
		t = msg.Timestamp.UTC().Format("15:04:05")
	}
	return row{ctx: m.peek.ctx, name: strconv.Itoa(j + 1),
		cells: []string{strconv.Itoa(j + 1), t, originCell(o), o.Reason, strconv.Itoa(len(msg.Value))}}
}

// originCell says where a dead letter came from as dlq ls does: the
// destination, or the stream and sequence a JetStream advisory points to,
// then a Kafka partition/offset (Spring writes them as binary integers,
// which its headers below show escaped).
func originCell(o dlq.Origin) string {
	s := o.Destination
	if s == "" && o.Stream != "" {
		s = fmt.Sprintf("%s#%d", o.Stream, o.StreamSeq)
	}
	if o.Partition != nil && o.Offset != nil {
		s += fmt.Sprintf(" %d/%d", *o.Partition, *o.Offset)
	}
	return s
}

// detail shows the selected peeked message: origin, headers, body.
func (m *Model) detail(b *strings.Builder, w, h int) int {
	if h <= 0 || len(m.peek.msgs) == 0 {
		return 0
	}
	rows := m.rows(Browser)
	if len(rows) == 0 {
		return 0
	}
	j, _ := strconv.Atoi(rows[min(m.cursor[Browser], len(rows)-1)].name)
	msg := &m.peek.msgs[j-1]
	o := dlq.DecodeOrigin(m.peek.broker, msg)
	var ls []string
	ls = append(ls, strings.Repeat("─", w))
	// The reason last: it is the long one (an exception message); a count
	// only where the convention keeps one (x-death, ours).
	head := "origin " + orDash(originCell(o))
	if o.Count > 0 {
		head += fmt.Sprintf("  count %d", o.Count)
	}
	ls = append(ls, head+"  reason "+orDash(o.Reason))
	for _, hd := range msg.Headers {
		ls = append(ls, "  "+hd.Key+": "+string(hd.Value))
	}
	ls = append(ls, body(msg.Value)...)
	n := 0
	for _, l := range ls {
		if n >= h {
			break
		}
		b.WriteString(fit(output.TerminalSafe(l), w))
		b.WriteByte('\n')
		n++
	}
	return n
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// body pretty-prints JSON, shows text as lines and anything else as hex;
// the caller sanitises every line.
func body(v []byte) []string {
	if len(v) == 0 {
		return []string{"(empty body)"}
	}
	var buf bytes.Buffer
	if json.Valid(v) && json.Indent(&buf, v, "", "  ") == nil {
		return strings.Split(buf.String(), "\n")
	}
	if utf8.Valid(v) {
		return strings.Split(string(v), "\n")
	}
	var ls []string
	for i := 0; i < len(v) && i < 256; i += 16 {
		ls = append(ls, fmt.Sprintf("%04x  % x", i, v[i:min(i+16, len(v))]))
	}
	return append([]string{fmt.Sprintf("(binary, %d bytes)", len(v))}, ls...)
}
