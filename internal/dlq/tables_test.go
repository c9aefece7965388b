package dlq

import (
	"slices"
	"testing"
	"time"

	"github.com/mqctl/mqctl/internal/envelope"
)

// Each peek column means the same on every broker: POSITION a place in
// the source, DIED a recorded death, PUBLISHED the shown message's own
// timestamp, "-" where there is none.
func TestPeekTableColumns(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	defer func(f func() time.Time) { sinceNow = f }(sinceNow)
	sinceNow = func() time.Time { return now }
	stamp := func(d time.Duration) string { return now.Add(-d).Format(time.RFC3339Nano) }
	text := func(s string) *string { return &s }
	part, off := int32(0), int64(7)
	for _, c := range []struct {
		name   string
		item   PeekItem
		header []string
		row    []string
	}{{
		name: "kafka Spring DLT: no death time recorded",
		item: PeekItem{
			Message: envelope.Envelope{Value: text("v"), Timestamp: stamp(3 * time.Minute), Partition: &part, Offset: &off},
			Origin:  Origin{Reason: "boom", Destination: "orders"},
		},
		header: []string{"POSITION", "DIED", "PUBLISHED", "REASON", "COUNT", "ORIGINAL", "KEY", "VALUE"},
		row:    []string{"0/7", "-", "3m", "boom", "-", "orders", "-", "v"},
	}, {
		name: "jetstream advisory: the original's timestamp",
		item: PeekItem{
			Message:  envelope.Envelope{Value: text("{}"), Timestamp: stamp(time.Minute), Stream: "DEAD", StreamSeq: 3},
			Origin:   Origin{Reason: ReasonTerminated, LastDeath: now.Add(-time.Minute), Stream: "ORDERS"},
			Original: &envelope.Envelope{Value: text("order-1"), Timestamp: stamp(5 * time.Hour)},
		},
		header: []string{"POSITION", "DIED", "PUBLISHED", "REASON", "COUNT", "ORIGINAL", "KEY", "VALUE"},
		row:    []string{"DEAD#3", "1m", "5h00m", ReasonTerminated},
	}, {
		name: "rabbitmq: x-death time, message id, no position",
		item: PeekItem{
			Message: envelope.Envelope{Value: text("v"), Properties: &envelope.Properties{MessageID: "order-42"}},
			Origin:  Origin{Reason: "rejected", Count: 2, LastDeath: now.Add(-10 * time.Second), Destination: "work"},
		},
		header: []string{"MESSAGE ID", "DIED", "PUBLISHED", "REASON", "COUNT", "ORIGINAL", "KEY", "VALUE"},
		row:    []string{"order-42", "10s", "-", "rejected", "2"},
	}} {
		tab := PeekTable([]PeekItem{c.item})
		if !slices.Equal(tab.Header, c.header) || len(tab.Rows) != 1 || !slices.Equal(tab.Rows[0][:len(c.row)], c.row) {
			t.Errorf("%s:\n header %q\n row    %q\n want   %q\n        %q", c.name, tab.Header, tab.Rows, c.header, c.row)
		}
	}
}
