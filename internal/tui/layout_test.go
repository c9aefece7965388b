package tui

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/mqctl/mqctl/internal/broker"
)

// A trend narrower than its samples shows the newest ones: a queue that
// was just drained (a replay, a purge) ends in the lowest bar, at 80
// columns as at 200.
func TestTrendKeepsNewestSamples(t *testing.T) {
	f := newFixture()
	now := t0
	m := New(f, Options{Interval: 2 * time.Second, Now: func() time.Time { return now }, Tick: func(time.Duration, tea.Msg) tea.Cmd { return nil }})
	run(m, startMsg{})
	for range 25 {
		now = now.Add(2 * time.Second)
		run(m, tickMsg{ctx: 0})
	}
	f.mu.Lock()
	f.snaps[0].Destinations = slices.Clone(f.snaps[0].Destinations)
	f.snaps[0].Destinations[0].Messages = 0 // orders drained
	f.mu.Unlock()
	now = now.Add(2 * time.Second)
	run(m, tickMsg{ctx: 0})
	typeKeys(m, "2")
	for _, w := range []int{80, 200} {
		run(m, tea.WindowSizeMsg{Width: w, Height: 24})
		for _, l := range strings.Split(m.Content(), "\n") {
			if !strings.HasPrefix(l, "> sandbox-") || !strings.Contains(l, " orders ") {
				continue
			}
			if !strings.HasSuffix(strings.TrimSpace(l), "█▁") {
				t.Errorf("at %d columns the trend of a drained topic does not end in its drop: %q", w, l)
			}
		}
	}
}

// On a narrow screen a stale context's rows still say how stale they are:
// the columns shrink, then the least needed ones are left out whole
// (never cut into "…" at the edge), and AGE stays.
func TestNarrowScreensKeepStaleMarker(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {60, 20}} {
		for _, v := range []string{"1", "2", "3", "4"} {
			t.Run(fmt.Sprintf("view%s_%dx%d", v, size[0], size[1]), func(t *testing.T) {
				f := newFixture()
				f.snaps[1].Destinations = append(f.snaps[1].Destinations, broker.Destination{Broker: "rabbitmq", Type: "queue", Name: "orders.created", Messages: 308})
				now := t0
				m := New(f, Options{Interval: 2 * time.Second, Now: func() time.Time { return now }, Tick: func(time.Duration, tea.Msg) tea.Cmd { return nil }})
				run(m, tea.WindowSizeMsg{Width: size[0], Height: size[1]})
				run(m, startMsg{})
				f.errs[1] = errors.New("dial tcp 127.0.0.1:5672: connect: connection refused")
				now = t0.Add(37 * time.Second)
				run(m, tickMsg{ctx: 0})
				run(m, tickMsg{ctx: 1})
				typeKeys(m, v)
				screen := m.Content()
				checkScreen(t, "view "+v, screen, size[0], size[1])
				ls := strings.Split(screen, "\n")
				if strings.Contains(ls[1], "…") {
					t.Errorf("a header was cut: %q", ls[1])
				}
				stale := 0
				for _, l := range ls[2:] {
					if !strings.HasPrefix(l, "  ") && !strings.HasPrefix(l, "> ") {
						continue
					}
					if !strings.Contains(l, "sandbox-k") && !strings.Contains(l, "sandbox-r") {
						t.Errorf("the context of a row cannot be told: %q", l)
					}
					if strings.Contains(l, "sandbox-r") != strings.HasSuffix(l, "stale 37s") {
						t.Errorf("a row's age is wrong or cut: %q", l)
					}
					if strings.Contains(l, "sandbox-r") {
						stale++
					}
				}
				if stale == 0 {
					t.Fatalf("no row of the stale context:\n%s", screen)
				}
				// Room a left-out column gave back goes to names first.
				if v == "2" && size[0] == 60 && !strings.Contains(screen, " orders.created ") {
					t.Errorf("a name was cut while a context had room:\n%s", screen)
				}
			})
		}
	}
}

// ? shows the help: every key (the action keys too, unless read-only) on
// the first screen at 80x24; what does not fit scrolls with the keys that
// move a table's cursor, and its last line says which lines are shown.
func TestHelpFitsTheScreen(t *testing.T) {
	for _, readOnly := range []bool{false, true} {
		f := newFixture()
		m := newModel(f, nil)
		m.opt.ReadOnly = readOnly
		run(m, tea.WindowSizeMsg{Width: 80, Height: 24})
		run(m, startMsg{})
		typeKeys(m, "?")
		screen := m.Content()
		checkScreen(t, "help", screen, 80, 24)
		last := "refused while it has live members."
		if readOnly {
			last = "replay, purge and offsets reset are off."
		}
		for _, want := range []string{"deadletters, browser", "q              quit", last, "── lines 1-20 of ", "? help  q quit"} {
			if !strings.Contains(screen, want) {
				t.Errorf("read-only %v: help lacks %q:\n%s", readOnly, want, screen)
			}
		}
		typeKeys(m, "G")
		screen = m.Content()
		checkScreen(t, "help at its end", screen, 80, 24)
		if all := m.helpWrapped(80); !strings.Contains(screen, all[len(all)-1]+"\n── lines ") {
			t.Errorf("read-only %v: G did not scroll to the help's end:\n%s", readOnly, screen)
		}
		// A key's description wraps under itself.
		typeKeys(m, "g")
		run(m, tea.WindowSizeMsg{Width: 60, Height: 20})
		screen = m.Content()
		checkScreen(t, "help at 60x20", screen, 60, 20)
		if !strings.Contains(screen, "  1-5 or :name   views: overview, destinations, consumers,\n                 deadletters, browser\n") ||
			!strings.Contains(screen, "── lines 1-16 of ") || !strings.HasSuffix(screen, "? help  q quit") {
			t.Errorf("read-only %v: help at 60x20:\n%s", readOnly, screen)
		}
	}
}

// On a short screen the help pages: j/k and arrows move a line, PgDn and
// PgUp a page, and paging down from the top shows every line once, in
// order; at the end it stops. Another key closes it, q quits.
func TestHelpScrolls(t *testing.T) {
	m := newModel(newFixture(), nil)
	run(m, tea.WindowSizeMsg{Width: 80, Height: 10})
	run(m, startMsg{})
	typeKeys(m, "?")
	all := m.helpWrapped(80)
	body := func() []string {
		ls := strings.Split(m.Content(), "\n")
		checkScreen(t, "help at 80x10", m.Content(), 80, 10)
		return ls[1:7] // 6 lines of help, then where they are
	}
	// Each page is the lines its position line names; PgDn goes on from
	// the line after the last shown, until the last page ends the help.
	next := 1
	for page := 0; ; page++ {
		var a, b, n int
		pos := strings.Split(m.Content(), "\n")[7]
		if _, err := fmt.Sscanf(pos, "── lines %d-%d of %d:", &a, &b, &n); err != nil || n != len(all) {
			t.Fatalf("page %d: position line %q (%v)", page, pos, err)
		}
		if !slices.Equal(body(), all[a-1:b]) {
			t.Fatalf("page %d shows\n%s\nwant lines %d-%d", page, strings.Join(body(), "\n"), a, b)
		}
		if b == n {
			if a > next {
				t.Fatalf("paging skipped lines %d-%d", next, a-1)
			}
			break
		}
		if a != next || page > 20 {
			t.Fatalf("page %d starts at line %d, want %d", page, a, next)
		}
		next = b + 1
		run(m, tea.KeyPressMsg{Code: tea.KeyPgDown})
	}
	end := body()
	run(m, tea.KeyPressMsg{Code: tea.KeyPgDown})
	typeKeys(m, "j", "down")
	if !slices.Equal(body(), end) {
		t.Errorf("the help scrolled past its end")
	}
	typeKeys(m, "k")
	if b := body(); b[0] != all[len(all)-7] {
		t.Errorf("k did not go up a line: %q, want %q", b[0], all[len(all)-7])
	}
	run(m, tea.KeyPressMsg{Code: tea.KeyPgUp})
	run(m, tea.KeyPressMsg{Code: tea.KeyPgUp})
	typeKeys(m, "up")
	if b := body(); !m.help || b[0] != all[len(all)-7-13] {
		t.Errorf("PgUp twice and ↑: %q, want %q", b[0], all[len(all)-7-13])
	}
	typeKeys(m, "x")
	if m.help || m.quitting {
		t.Fatalf("another key did not close the help (help %v, quitting %v)", m.help, m.quitting)
	}
	typeKeys(m, "?", "G", "q")
	if !m.quitting {
		t.Fatal("q in the help did not quit")
	}
}

// The browser says where each dead letter came from as dlq ls does: a
// Spring record's topic with its partition/offset (binary headers,
// decoded), a JetStream advisory's stream and sequence; a count only
// where the convention keeps one.
func TestBrowserOrigins(t *testing.T) {
	f := newFixture()
	f.msgs = []broker.Message{
		{Timestamp: t0, Value: []byte(`{"id":1}`), Headers: []broker.Header{
			{Key: "kafka_dlt-original-topic", Value: []byte("orders")},
			{Key: "kafka_dlt-original-partition", Value: []byte{0, 0, 0, 2}},
			{Key: "kafka_dlt-original-offset", Value: []byte{0, 0, 0, 0, 0, 0, 0, 6}},
			{Key: "kafka_dlt-exception-message", Value: []byte("SKU not found")},
		}},
		{Timestamp: t0, Value: []byte(`{"type":"io.nats.jetstream.advisory.v1.terminated","stream":"ORDERS","consumer":"processor","stream_seq":5,"deliveries":1,"reason":"invalid SKU"}`)},
	}
	m := newModel(f, nil)
	run(m, tea.WindowSizeMsg{Width: 80, Height: 24})
	run(m, startMsg{})
	typeKeys(m, "4", "enter")
	screen := m.Content()
	for _, want := range []string{"orders 2/6", "ORDERS#5", "origin orders 2/6  reason SKU not found\n"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the browser lacks %q:\n%s", want, screen)
		}
	}
	typeKeys(m, "down")
	if screen := m.Content(); !strings.Contains(screen, "origin ORDERS#5  count 1  reason terminated: invalid SKU\n") {
		t.Errorf("the advisory's detail:\n%s", screen)
	}
}

// 5 and :browser before anything was opened say how to open one, rather
// than nothing (5) or that "browser" is an unknown view.
func TestBrowserBeforeEnter(t *testing.T) {
	for _, keys := range [][]string{{"5"}, {":", "b", "r", "enter"}, {":", "b", "r", "o", "w", "s", "e", "r", "enter"}} {
		m := newModel(newFixture(), nil)
		run(m, startMsg{})
		typeKeys(m, keys...)
		if m.view != Overview || !strings.Contains(m.status, "open one with Enter in destinations (2) or dead letters (4)") {
			t.Errorf("%v: view %v, status %q", keys, m.view, m.status)
		}
	}
	m := newModel(newFixture(), nil)
	run(m, startMsg{})
	typeKeys(m, "4", "enter", "1", "5")
	if m.view != Browser {
		t.Errorf("5 after Enter opened a destination: view %v", m.view)
	}
}

// On a screen with room for one help line, G shows the last line of help,
// not a line past it.
func TestHelpOneLineScreenEnds(t *testing.T) {
	m := newModel(newFixture(), nil)
	run(m, tea.WindowSizeMsg{Width: 80, Height: 4})
	run(m, startMsg{})
	typeKeys(m, "?", "G")
	w, h := m.helpSize()
	n := len(m.helpWrapped(w))
	if got, want := m.helpScreen(w, h)[0], fmt.Sprintf("── help line %d of %d", n, n); !strings.HasPrefix(got, want) {
		t.Errorf("after G: %q, want %q…", got, want)
	}
}
