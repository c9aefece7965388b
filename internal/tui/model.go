package tui

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/mattn/go-runewidth"

	"github.com/mqctl/mqctl/internal/audit"
	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/dlq"
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
)

var viewNames = []string{"overview", "destinations", "consumers", "deadletters", "browser"}

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
	name     string
	snap     Snapshot
	lastOK   time.Time
	err      error
	inFlight bool
	pending  bool
	failures int
	win      *lag.Window
	depth    map[string][]int64  // destination name -> depth samples
	lagHist  map[string][]int64  // lag row key -> lag samples
	pos      map[string]position // destination name -> its last position
	flows    map[string]flow     // destination name -> rates between its last two
}

// Model is the bubbletea model of `mqctl top`.
type Model struct {
	src  Source
	opt  Options
	ctxs []*ctxState

	view      View
	back      []View
	cursor    [5]int
	filter    [5]string
	sortCol   [5]int
	sortDesc  [5]bool
	input     string // text of the filter or command line being typed
	mode      rune   // 0 normal, '/' filter, ':' command
	help      bool
	paused    bool
	status    string // what the last key or action said; cleared by the next key
	width     int
	height    int
	peek      peekState
	act       *action
	version   int // bumped by new data and ticks: invalidates cache
	cache     [5]rowCache
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
	readMsg  struct {
		ctx  int
		snap Snapshot
		err  error
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
		m.ctxs = append(m.ctxs, &ctxState{name: n, win: lag.NewWindow(opt.Samples), depth: map[string][]int64{}, lagHist: map[string][]int64{}})
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
	src, timeout := m.src, m.opt.Timeout
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		snap, err := src.Read(ctx, i)
		return readMsg{ctx: i, snap: snap, err: err}
	}
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
	now := m.opt.Now()
	if msg.err != nil {
		c.failures++
		c.err = msg.err
	} else {
		c.failures = 0
		c.err = nil
		c.lastOK = now
	}
	// A partial read still brings data: keep what came, keep the rest.
	if msg.snap.Broker != "" {
		c.snap.Broker = msg.snap.Broker
	}
	if msg.snap.Destinations != nil {
		c.snap.Destinations = msg.snap.Destinations
		for _, d := range msg.snap.Destinations {
			c.depth[d.Name] = appendSample(c.depth[d.Name], d.Messages)
		}
		// Consumers' positions only from this read's lag rows: older
		// ones would make a rate of two reads' worth of commits.
		cur := positions(now, msg.snap.Destinations, msg.snap.Lag)
		flows := make(map[string]flow, len(cur))
		for name, p := range cur {
			if prev, ok := c.pos[name]; ok {
				flows[name] = between(prev, p)
			}
		}
		c.pos, c.flows = cur, flows
	}
	if msg.snap.Lag != nil {
		c.snap.Lag = msg.snap.Lag
		c.win.Observe(now, msg.snap.Lag)
		c.win.Prune(now.Add(-time.Duration(m.opt.Samples+1) * m.opt.Interval * 4))
		for _, r := range msg.snap.Lag {
			c.lagHist[r.Key()] = appendSample(c.lagHist[r.Key()], r.Lag)
		}
	}
	if msg.snap.DeadLetters != nil {
		c.snap.DeadLetters = msg.snap.DeadLetters
	}
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

// Update handles one message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg.(type) {
	case tickMsg, readMsg, peekMsg, planMsg, doneMsg, progressMsg:
		m.version++
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
	case progressMsg:
		return m, m.progress(msg)
	case doneMsg:
		return m, m.finish(msg)
	case tea.KeyPressMsg:
		return m, m.key(msg)
	}
	return m, nil
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
	if m.help {
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
		m.help = true
	case "1", "2", "3", "4":
		m.setView(View(s[0] - '1'))
	case "5":
		if m.peek.dest != "" {
			m.setView(Browser)
		}
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
	case "r":
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
		if strings.HasPrefix(n, c) && (View(i) != Browser || m.peek.dest != "") {
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
		m.status = "unknown view " + strconv.Quote(c) + ": overview, destinations, consumers, deadletters, browser"
	}
}

func (m *Model) move(d int) {
	n := len(m.rows(m.view))
	c := m.cursor[m.view] + d
	c = max(0, min(c, n-1))
	m.cursor[m.view] = c
}

// drill opens the message browser on the selected destination or
// dead-letter destination.
func (m *Model) drill() tea.Cmd {
	switch m.view {
	case Overview:
		m.setView(Destinations)
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
	m.peek = peekState{ctx: r.ctx, dest: r.name, broker: m.ctxs[r.ctx].snap.Broker, loading: true}
	m.cursor[Browser] = 0
	m.setView(Browser)
	src, timeout, i, dest := m.src, m.opt.Timeout, r.ctx, r.name
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		msgs, err := src.Peek(ctx, i, dest, peekCount)
		return peekMsg{ctx: i, dest: dest, msgs: msgs, err: err}
	}
}

const peekCount = 50

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
