package tui

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/mattn/go-runewidth"

	"github.com/mqctl/mqctl/internal/audit"
	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/output"
)

// View identifies a screen.
type View int

const (
	Overview View = iota
	Destinations
	Consumers
	DeadLetters
	Browser
	// Detail is one consumer group, JetStream consumer or queue of the
	// consumers view, opened with Enter there.
	Detail
	numViews
)

var viewNames = []string{"overview", "destinations", "consumers", "deadletters", "browser", "detail"}

// Options configure a Model.
type Options struct {
	Interval time.Duration
	ReadOnly bool
	// Now and Tick are injected by tests: a fixed clock, no timers.
	Now  func() time.Time
	Tick func(d time.Duration, msg tea.Msg) tea.Cmd
	// Timeout bounds one read of one context.
	Timeout time.Duration
	// Samples is the lag --watch window (statuses need this many polls).
	Samples int
	// Audit receives a record of every step of every action; without
	// one, actions are refused.
	Audit *audit.Log
}

const sparkLen = 30
const maxBackoff = 60 * time.Second

type ctxState struct {
	name string
	*ctxData
	lastOK   time.Time
	err      error
	inFlight bool
	pending  bool
	failures int
	hist     *history // nil while a read of this context owns it
}

// Model is the bubbletea model of `mqctl top`.
type Model struct {
	src  Source
	opt  Options
	ctxs []*ctxState

	view     View
	back     []View
	cursor   [numViews]int
	filter   [numViews]string
	sortCol  [numViews]int
	sortDesc [numViews]bool
	input    string // text of the filter or command line being typed
	mode     rune   // 0 normal, '/' filter, ':' command
	help     bool
	helpTop  int // the first help line shown, when it does not fit
	paused   bool
	// asOf is when the view was paused, or read again with r while
	// paused: what the rows show is as of then.
	asOf      time.Time
	status    string // what the last key or action said; cleared by the next key
	width     int
	height    int
	peek      peekState
	sel       selection // what the detail view shows
	act       *action
	version   int // bumped by new data and ticks: invalidates cache
	cache     [numViews]rowCache
	started   bool
	quitting  bool
	interrupt bool
}

type peekState struct {
	ctx     int
	dest    string
	broker  string
	msgs    []broker.Message
	err     error
	loading bool
}

// Msgs.
type (
	startMsg struct{}
	tickMsg  struct{ ctx int }
	// readMsg is a read's result with everything derived from it, made
	// in the read command: applying it swaps pointers.
	readMsg struct {
		ctx  int
		err  error
		at   time.Time // when the read ended
		data *ctxData
		hist *history // handed back to the model
	}
	peekMsg struct {
		ctx  int
		dest string
		msgs []broker.Message
		err  error
	}
)

// New returns the model; nothing is read until the program runs it.
func New(src Source, opt Options) *Model {
	if opt.Interval <= 0 {
		opt.Interval = 2 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Tick == nil {
		opt.Tick = func(d time.Duration, msg tea.Msg) tea.Cmd {
			return tea.Tick(d, func(time.Time) tea.Msg { return msg })
		}
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	if opt.Samples < 2 {
		opt.Samples = 5
	}
	m := &Model{src: src, opt: opt, width: 80, height: 24}
	for _, n := range src.Contexts() {
		m.ctxs = append(m.ctxs, &ctxState{name: n, ctxData: emptyData(), hist: newHistory(opt.Samples)})
	}
	return m
}

// Interrupted says the user left with Ctrl-C (exit 130).
func (m *Model) Interrupted() bool { return m.interrupt }

// Init only asks for a start message: it cannot record reads in flight.
func (m *Model) Init() tea.Cmd { return func() tea.Msg { return startMsg{} } }

// read starts a refresh of context i unless one is in flight, in which
// case the refresh is coalesced into one more read after it.
func (m *Model) read(i int) tea.Cmd {
	c := m.ctxs[i]
	if c.inFlight {
		c.pending = true
		return nil
	}
	c.inFlight = true
	job := m.refresh(i)
	c.hist = nil // the read owns it until its result is applied
	src, timeout, now := m.src, m.opt.Timeout, m.opt.Now
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		snap, err := src.Read(ctx, i)
		return job.derive(snap, err, now())
	}
}

// lagKeys are the rows' window keys, in their order.
func lagKeys(rows []lag.Row) []string {
	keys := make([]string, len(rows))
	for j, r := range rows {
		keys[j] = r.Key()
	}
	return keys
}

func (m *Model) readAll() tea.Cmd {
	var cmds []tea.Cmd
	for i := range m.ctxs {
		cmds = append(cmds, m.read(i))
	}
	return tea.Batch(cmds...)
}

// delay is the wait before the next read: the interval, doubled per
// consecutive failure up to a minute.
func (m *Model) delay(c *ctxState) time.Duration {
	d := m.opt.Interval
	for k := 0; k < c.failures && d < maxBackoff; k++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

func appendSample(s []int64, v int64) []int64 {
	s = append(s, v)
	if len(s) > sparkLen {
		s = s[len(s)-sparkLen:]
	}
	return s
}

func (m *Model) applyRead(msg readMsg) tea.Cmd {
	c := m.ctxs[msg.ctx]
	c.inFlight = false
	c.hist = msg.hist
	if msg.err != nil {
		c.failures++
		c.err = msg.err
	} else {
		c.failures = 0
		c.err = nil
		c.lastOK = msg.at
	}
	// A partial read still brings data: derive kept what did not come.
	c.ctxData = msg.data
	if c.pending {
		c.pending = false
		return m.read(msg.ctx)
	}
	return m.opt.Tick(m.delay(c), tickMsg{ctx: msg.ctx})
}

// errorLine lists every failing context's error, sanitised, in context
// order, as many as fit in w columns; the rest are counted ("+2 more").
func (m *Model) errorLine(w int) string {
	var parts []string
	for _, c := range m.ctxs {
		if c.err != nil {
			parts = append(parts, output.TerminalSafe(fmt.Sprintf("%s: %s; retry in %s", c.name, oneLine(c.err.Error()), m.delay(c))))
		}
	}
	return fitList(parts, w)
}

// fitList joins parts with " · " within w columns: the first ones that
// fit, then "+N more" for the others. A first part too wide alone is cut.
func fitList(parts []string, w int) string {
	more := func(n int) string {
		if n == 0 {
			return ""
		}
		return "+" + strconv.Itoa(n) + " more"
	}
	line := ""
	for k, p := range parts {
		next := p
		if k > 0 {
			next = line + " · " + p
		}
		rest := more(len(parts) - k - 1)
		if rest != "" {
			rest = " · " + rest
		}
		if runewidth.StringWidth(next+rest) > w {
			if k == 0 {
				return runewidth.Truncate(p, max(w-runewidth.StringWidth(rest), 1), "…") + rest
			}
			return line + " · " + more(len(parts)-k)
		}
		line = next
	}
	return line
}

func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// clockShows says whether some cell depends on the clock now: a stale
// context's age, or a dead-letter destination's oldest message. Without
// one a tick leaves the rows as they are (at 50,000 partitions gathering
// and sorting them again is milliseconds on the event loop, and a stale
// context's rows are built there).
func (m *Model) clockShows() bool {
	now := m.opt.Now()
	for _, c := range m.ctxs {
		if m.staleCell(c, now) != "" {
			return true
		}
		for _, d := range c.snap.DeadLetters {
			if !d.Oldest.IsZero() {
				return true
			}
		}
	}
	return false
}

// Update handles one message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg.(type) {
	case readMsg, peekMsg, planMsg, resetPlanMsg, doneMsg, progressMsg:
		m.version++
	case tickMsg:
		if m.clockShows() {
			m.version++
		}
	}
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case startMsg:
		if m.started {
			return m, nil
		}
		m.started = true
		return m, m.readAll()
	case tickMsg:
		if m.paused {
			return m, m.opt.Tick(m.opt.Interval, msg)
		}
		return m, m.read(msg.ctx)
	case readMsg:
		return m, m.applyRead(msg)
	case peekMsg:
		if msg.ctx == m.peek.ctx && msg.dest == m.peek.dest {
			m.peek.loading = false
			m.peek.msgs, m.peek.err = msg.msgs, msg.err
		}
	case planMsg:
		m.applyPlan(msg)
	case resetPlanMsg:
		m.applyResetPlan(msg)
	case progressMsg:
		return m, m.progress(msg)
	case doneMsg:
		return m, m.finish(msg)
	case tea.KeyPressMsg:
		return m, m.key(msg)
	case tea.PasteMsg:
		m.paste(msg.Content)
	}
	return m, nil
}

// paste adds pasted text, up to its first line break, to whatever is
// being typed: the filter or command line, the name a purge asks for, an
// offsets reset's time or shift. Elsewhere it does nothing, as no key in
// it is taken for a command.
func (m *Model) paste(text string) {
	if i := strings.IndexAny(text, "\r\n"); i >= 0 {
		text = text[:i]
	}
	switch a := m.act; {
	case a != nil && a.kind == "purge" && a.phase == confirming:
		a.typed += text
	case a != nil && a.reset != nil && a.phase == choosing && a.reset.entering:
		a.typed += text
		a.reset.typeErr = ""
	case a == nil && (m.mode == '/' || m.mode == ':'):
		m.input += text
		if m.mode == '/' {
			m.filter[m.view] = m.input
			m.cursor[m.view] = 0
		}
	}
}

func (m *Model) setView(v View) {
	if v != m.view {
		m.back = append(m.back, m.view)
		m.view = v
	}
}

func (m *Model) key(k tea.KeyPressMsg) tea.Cmd {
	s := k.String()
	if m.act != nil {
		return m.actionKey(s, k)
	}
	if s == "ctrl+c" {
		m.interrupt = true
		m.quitting = true
		return tea.Quit
	}
	if m.mode != 0 {
		return m.typing(k, s)
	}
	m.status = ""
	if panicKey != "" && s == panicKey {
		panic("test hook: " + s + " pressed")
	}
	if m.help {
		if m.helpKey(s) {
			return nil
		}
		m.help = false
		if s != "q" {
			return nil
		}
	}
	switch s {
	case "q":
		m.quitting = true
		return tea.Quit
	case "?":
		m.help, m.helpTop = true, 0
	case "1", "2", "3", "4":
		m.setView(View(s[0] - '1'))
	case "5":
		if m.peek.dest == "" {
			m.status = noBrowser
			return nil
		}
		m.setView(Browser)
	case "/", ":":
		m.mode = rune(s[0])
		m.input = ""
		if s == "/" {
			m.input = m.filter[m.view]
		}
	case "esc":
		switch {
		case m.filter[m.view] != "":
			m.filter[m.view] = ""
			m.cursor[m.view] = 0
		case len(m.back) > 0:
			m.view = m.back[len(m.back)-1]
			m.back = m.back[:len(m.back)-1]
		}
	case "s":
		m.sortCol[m.view] = (m.sortCol[m.view] + 1) % len(m.columns(m.view))
	case "S":
		m.sortDesc[m.view] = !m.sortDesc[m.view]
	case "p":
		m.paused = !m.paused
		m.asOf = m.opt.Now()
		m.version++ // stale cells are measured from asOf while paused
	case "r":
		if m.paused {
			m.asOf = m.opt.Now()
		}
		if m.view == Browser {
			return tea.Batch(m.readAll(), m.repeek())
		}
		return m.readAll()
	case "up", "k":
		m.move(-1)
	case "down", "j":
		m.move(1)
	case "pgup":
		m.move(-m.pageRows())
	case "pgdown", "space":
		m.move(m.pageRows())
	case "home", "g":
		m.cursor[m.view] = 0
	case "end", "G":
		m.move(1 << 30)
	case "enter":
		return m.drill()
	case "R":
		return m.startAction("replay")
	case "X":
		return m.startAction("purge")
	case "O":
		return m.startReset()
	}
	return nil
}

func (m *Model) typing(k tea.KeyPressMsg, s string) tea.Cmd {
	switch s {
	case "esc":
		if m.mode == '/' {
			m.filter[m.view] = ""
		}
		m.mode = 0
	case "enter":
		if m.mode == ':' {
			m.command(strings.TrimSpace(m.input))
		}
		m.mode = 0
	case "backspace":
		if r := []rune(m.input); len(r) > 0 {
			m.input = string(r[:len(r)-1])
		}
	default:
		if k.Text != "" {
			m.input += k.Text
		}
	}
	if m.mode == '/' {
		m.filter[m.view] = m.input
		m.cursor[m.view] = 0
	}
	return nil
}

func (m *Model) command(c string) {
	c = strings.ToLower(c)
	if c == "" {
		return
	}
	for i, n := range viewNames {
		if strings.HasPrefix(n, c) {
			if View(i) == Browser && m.peek.dest == "" {
				m.status = noBrowser
				return
			}
			if View(i) == Detail && m.sel.kind == "" {
				m.status = noDetail
				return
			}
			m.setView(View(i))
			return
		}
	}
	switch c {
	case "dlq", "dl":
		m.setView(DeadLetters)
	case "q", "quit":
		m.status = "type q outside the command line to quit"
	default:
		m.status = "unknown view " + strconv.Quote(c) + ": overview, destinations, consumers, deadletters, browser, detail"
	}
}

// noBrowser says why 5 or :browser did nothing: the browser shows what
// Enter opened.
const noBrowser = "the browser shows the messages of a destination: open one with Enter in destinations (2) or dead letters (4)"

func (m *Model) move(d int) {
	n := len(m.rows(m.view))
	c := m.cursor[m.view] + d
	c = max(0, min(c, n-1))
	m.cursor[m.view] = c
}

// drill opens the message browser on the selected destination or
// dead-letter destination, or the detail of the selected consumer.
func (m *Model) drill() tea.Cmd {
	switch m.view {
	case Overview:
		m.setView(Destinations)
		return nil
	case Consumers:
		m.drillConsumer()
		return nil
	case Destinations, DeadLetters:
	default:
		return nil
	}
	rows := m.rows(m.view)
	if len(rows) == 0 {
		return nil
	}
	r := rows[min(m.cursor[m.view], len(rows)-1)]
	m.peek = peekState{ctx: r.ctx, dest: r.name, broker: m.ctxs[r.ctx].snap.Broker}
	m.cursor[Browser] = 0
	m.setView(Browser)
	return m.repeek()
}

// repeek reads the browsed destination's messages again: Enter, r in the
// browser, and an action's end on it (what it replayed or purged is gone).
func (m *Model) repeek() tea.Cmd {
	m.peek.loading = true
	src, timeout, i, dest := m.src, m.opt.Timeout, m.peek.ctx, m.peek.dest
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		msgs, err := src.Peek(ctx, i, dest, peekCount)
		return peekMsg{ctx: i, dest: dest, msgs: msgs, err: err}
	}
}

const peekCount = 50
