package lag

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSort(t *testing.T) {
	rows := []Row{
		kafkaRow(2, 5, 0),
		queueRow("b", 100),
		kafkaRow(0, 5, 0),
		consumerRow("S", "c", 7),
		queueRow("a", 100),
		kafkaRow(1, 0, 0),
	}
	Sort(rows)
	var got []string
	for _, r := range rows {
		got = append(got, strings.Join(identity(r), " ")+" lag="+strconv.FormatInt(r.Lag, 10))
	}
	want := []string{
		"queue=a lag=100",
		"queue=b lag=100",
		"stream=S consumer=c lag=7",
		"group=orders topic=t partition=0 lag=5",
		"group=orders topic=t partition=2 lag=5",
		"group=orders topic=t partition=1 lag=0",
	}
	if !slices.Equal(got, want) {
		t.Errorf("order\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestSortMatchesReference checks Sort against the plain definition (a
// stable sort on lag, then the identity fields) on random rows with many
// equal lags and names, both in identity order already, as drivers deliver
// them, and shuffled. Identities are unique, as the rows of one poll are.
func TestSortMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"", "a", "b", "orders"}
	for round := range 200 {
		var rows []Row
		seen := map[string]bool{}
		for i := range rng.IntN(60) {
			r := Row{
				Context:   names[rng.IntN(2)],
				Broker:    []string{BrokerKafka, BrokerRabbitMQ, BrokerNATS}[rng.IntN(3)],
				Group:     names[rng.IntN(len(names))],
				Stream:    names[rng.IntN(len(names))],
				Queue:     names[rng.IntN(len(names))],
				Topic:     names[rng.IntN(len(names))],
				Partition: int32(rng.IntN(3)) - 1,
				Consumer:  names[rng.IntN(len(names))],
				Lag:       int64(rng.IntN(4)),
				End:       int64(i),
			}
			if !seen[r.Key()] {
				seen[r.Key()] = true
				rows = append(rows, r)
			}
		}
		if round%2 == 0 {
			slices.SortStableFunc(rows, func(a, b Row) int { return compareIdentity(&a, &b) })
		}
		want := slices.Clone(rows)
		slices.SortStableFunc(want, func(a, b Row) int {
			return cmp.Or(cmp.Compare(b.Lag, a.Lag), compareIdentity(&a, &b))
		})
		Sort(rows)
		if !slices.Equal(rows, want) {
			t.Fatalf("round %d: Sort gave\n%v\nwant\n%v", round, rows, want)
		}
	}
}

func TestTable(t *testing.T) {
	k0 := kafkaRow(0, 12, 3*time.Second)
	k0.ClientID, k0.State = "svc-1", "Stable"
	k1 := kafkaRow(1, 0, 0)
	k1.State = "Stable"
	q := queueRow("jobs", 7)
	q.Ready, q.Unacked, q.Consumers, q.PublishRate, q.DeliverRate, q.AckRate, q.DrainTime = 5, 2, 3, 10, 9.5, 9.25, 90*time.Second
	c := consumerRow("ORDERS", "worker", 4)
	c.AckPending, c.Redelivered, c.Waiting, c.LastActive = 1, 2, 0, time.Date(2026, 3, 1, 3, 4, 5, 0, time.FixedZone("X", 3600))
	c.Context = "prod"

	cases := []struct {
		name     string
		rows     []Row
		statuses map[string]Status
		header   string
		cells    []string
	}{
		{"no rows", nil, nil, "BROKER NAME LAG", nil},
		{"kafka only", []Row{k0, k1}, nil,
			"BROKER GROUP TOPIC PARTITION COMMITTED END LAG TIME-LAG MEMBER STATE",
			[]string{
				"kafka orders t 0 1000 1012 12 3s svc-1 Stable",
				"kafka orders t 1 1000 1000 0 - - Stable",
			}},
		{"rabbitmq only", []Row{q}, nil,
			"BROKER QUEUE LAG READY UNACKED CONSUMERS PUBLISH/S DELIVER/S ACK/S DRAIN",
			[]string{"rabbitmq jobs 7 5 2 3 10.0 9.5 9.2 1m30s"}},
		{"mixed with statuses", []Row{k0, q, c},
			map[string]Status{k0.Key(): {Code: Warn, Trend: 4}, c.Key(): {Code: Stall, Trend: -2}},
			"CONTEXT BROKER GROUP/QUEUE/STREAM TOPIC/CONSUMER PARTITION COMMITTED END LAG TIME-LAG MEMBER STATE " +
				"READY UNACKED CONSUMERS PUBLISH/S DELIVER/S ACK/S DRAIN ACK-PENDING REDELIVERED WAITING LAST-ACTIVE STATUS TREND",
			[]string{
				"- kafka orders t 0 1000 1012 12 3s svc-1 Stable - - - - - - - - - - - WARN +4",
				"- rabbitmq jobs - - - - 7 - - - 5 2 3 10.0 9.5 9.2 1m30s - - - - - -",
				"prod nats ORDERS worker - 10 14 4 - - - - - - - - - - 1 2 0 2026-03-01T02:04:05Z STALL -2",
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			header, cells := Table(tc.rows, tc.statuses)
			if got := strings.Join(header, " "); got != tc.header {
				t.Errorf("header\n%s\nwant\n%s", got, tc.header)
			}
			var got []string
			for _, c := range cells {
				if len(c) != len(header) {
					t.Errorf("row has %d cells for %d columns: %q", len(c), len(header), c)
				}
				got = append(got, strings.Join(c, " "))
			}
			if !slices.Equal(got, tc.cells) {
				t.Errorf("cells\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.cells, "\n"))
			}
		})
	}
}
