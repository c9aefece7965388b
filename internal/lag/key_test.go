package lag

import (
	"strconv"
	"strings"
	"testing"
)

// Key is each part quoted and the parts joined by spaces: names with
// spaces, quotes or control characters cannot make two rows collide.
func TestRowKey(t *testing.T) {
	rows := []Row{
		{},
		{Context: "prod", Broker: "kafka", Group: "billing", Topic: "orders", Partition: 17},
		{Broker: "rabbitmq", Queue: `a "b" c`},
		{Broker: "nats", Stream: "S", Consumer: "c\x1b\n", Partition: -1},
		{Group: "a b", Topic: "c"}, {Group: "a", Topic: "b c"},
	}
	seen := map[string]bool{}
	for _, r := range rows {
		want := strings.Join([]string{strconv.Quote(r.Context), strconv.Quote(r.Broker), strconv.Quote(r.Group), strconv.Quote(r.Stream),
			strconv.Quote(r.Queue), strconv.Quote(r.Topic), strconv.Itoa(int(r.Partition)), strconv.Quote(r.Consumer)}, " ")
		if got := r.Key(); got != want {
			t.Errorf("Key() = %q, want %q", got, want)
		}
		if seen[r.Key()] {
			t.Errorf("key %q of two rows", r.Key())
		}
		seen[r.Key()] = true
	}
}
