package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/mqctl/mqctl/internal/lag"
)

// detailFixture adds to the fixture a second partition of billing, on
// another topic, with its owner, and a JetStream context.
func detailFixture() *fixture {
	f := newFixture()
	k := &f.snaps[0]
	k.Lag[0].Member, k.Lag[0].ClientID, k.Lag[0].State = "billing-1-4f2a", "billing-svc", "Stable"
	k.Lag = append(k.Lag, lag.Row{Broker: "kafka", Kind: lag.KindPartition, Group: "billing", Topic: "refunds", Partition: 3,
		Committed: lag.Unknown, End: 12, Lag: 12, State: "Stable"})
	f.names = append(f.names, "sandbox-nats")
	f.snaps = append(f.snaps, Snapshot{Broker: "nats", Lag: []lag.Row{{Broker: "nats", Kind: lag.KindConsumer, Stream: "ORDERS", Consumer: "processor",
		Partition: lag.Unknown, Committed: 90, End: 175, Lag: 85, AckPending: 4, Redelivered: 2, Waiting: 1, LastActive: t0.Add(-90 * time.Second), State: "pull"}}})
	f.errs = append(f.errs, nil)
	q := &f.snaps[1].Lag[0]
	q.Ready, q.Unacked, q.Consumers, q.AckRate, q.DrainTime, q.State = 40, 2, 2, 2.5, 14*time.Second, "running"
	f.reads = append(f.reads, 0)
	return f
}

// Enter on a consumers row opens its group (every partition: committed
// and end offsets, lag, time lag, member and client), its consumer or its
// queue, live; Esc goes back. O resets the group from there.
func TestConsumerDetail(t *testing.T) {
	f := detailFixture()
	m, _ := actionModel(t, f)
	typeKeys(m, ":")
	typeKeys(m, strings.Split("detail", "")...)
	typeKeys(m, "enter")
	if m.view == Detail || !strings.Contains(m.status, "open one with Enter in consumers") {
		t.Fatalf(":detail before a selection: view %v, status %q", m.view, m.status)
	}
	typeKeys(m, "3", "down", "down") // billing refunds/3 (sorted by context, then as read)
	typeKeys(m, "enter")
	if m.view != Detail {
		t.Fatalf("Enter in consumers opened view %v", m.view)
	}
	screen := m.Content()
	checkScreen(t, "detail", screen, 80, 24)
	ls := strings.Split(screen, "\n")
	for i, want := range []string{
		"mqctl top · detail · sandbox-kafka/billing",
		"group billing: lag 412 on 2 partitions of 2 topics, 1 member, Stable",
		"  TOPIC/PART↑ COMMITTED END     LAG    TIME  STATUS MEMBER         CLIENT",
		"  orders/0    10        410     400    1m33s …1/5   billing-1-4f2a billing-svc",
		"> refunds/3   -         12      12     -     …1/5   -              -",
	} {
		if ls[i] != want {
			t.Errorf("line %d: %q\nwant     %q", i, ls[i], want)
		}
	}
	if !strings.Contains(ls[len(ls)-1], "O reset") {
		t.Errorf("O is not offered in the detail: %q", ls[len(ls)-1])
	}
	// Live: the next read's numbers show.
	f.mu.Lock()
	f.snaps[0].Lag = append([]lag.Row(nil), f.snaps[0].Lag...)
	f.snaps[0].Lag[0].Committed, f.snaps[0].Lag[0].Lag = 110, 300
	f.mu.Unlock()
	run(m, tickMsg{ctx: 0})
	if s := m.Content(); !strings.Contains(s, "  orders/0    110       410     300") {
		t.Errorf("the detail did not follow the read:\n%s", s)
	}
	typeKeys(m, "O")
	if m.act == nil || m.act.reset == nil || m.act.reset.group != "billing" || m.act.reset.topic != "refunds" {
		t.Fatalf("O in the detail: %+v", m.act)
	}
	typeKeys(m, "esc")
	typeKeys(m, "esc")
	if m.view != Consumers {
		t.Fatalf("Esc went to view %v, want consumers", m.view)
	}
	// A JetStream consumer: its counts.
	typeKeys(m, "/", "p", "r", "o", "c", "enter", "enter")
	screen = m.Content()
	checkScreen(t, "jetstream detail", screen, 80, 24)
	for _, want := range []string{"detail · sandbox-nats/processor\nconsumer processor of stream ORDERS: lag 85, pull\n",
		"STREAM↑  ACK FLOOR LAST SEQ PENDING ACK PEND REDELIV TIME  ACTIVE STATUS", "> ORDERS   90        175      85      4        2       -     1m     …1/5"} {
		if !strings.Contains(screen, want) {
			t.Errorf("jetstream detail lacks %q:\n%s", want, screen)
		}
	}
}

func TestConsumerDetailGolden(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {200, 50}} {
		for _, pick := range []struct{ name, keys string }{{"kafka", ""}, {"rabbitmq", "G"}} {
			name := fmt.Sprintf("detail_%s_%dx%d", pick.name, size[0], size[1])
			t.Run(name, func(t *testing.T) {
				f := detailFixture()
				m := newModel(f, nil)
				run(m, tea.WindowSizeMsg{Width: size[0], Height: size[1]})
				run(m, startMsg{})
				typeKeys(m, "3")
				if pick.keys != "" {
					typeKeys(m, "/", "p", "a", "y", "enter", pick.keys)
				}
				typeKeys(m, "enter")
				got := m.Content()
				checkScreen(t, name, got, size[0], size[1])
				checkGolden(t, name, got)
			})
		}
	}
}
