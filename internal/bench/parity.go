package bench

import (
	"strings"

	"github.com/mqctl/mqctl/internal/broker"
)

// Parity is what `bench --compare` prints under its table: for each of
// confirm, disk and replication, the setting each broker ran with (as its
// driver's broker.BenchPlanner describes it), and whether the confirm
// settings match (acks=all ↔ publisher confirms ↔ PubAck). Disk and
// replication are shown, not judged: the brokers make different promises
// there (see the README's bench section).
func Parity(brokers []string, k Knobs) []string {
	var confirm, disk, repl []string
	confirmMatched := true
	seen := map[string]bool{}
	for _, b := range brokers {
		if seen[b] {
			continue
		}
		seen[b] = true
		planner, err := broker.DriverAs[broker.BenchPlanner](b, "bench")
		if err != nil {
			continue
		}
		p := planner.BenchParity(k)
		confirm, disk, repl = append(confirm, p.Confirm), append(disk, p.Disk), append(repl, p.Replication)
		confirmMatched = confirmMatched && p.FullConfirm
	}
	verdict := "matched"
	if !confirmMatched {
		verdict = "NOT matched"
	}
	return []string{
		"confirm (" + verdict + "): " + strings.Join(confirm, " ↔ "),
		"disk: " + strings.Join(disk, " ↔ "),
		"replication: " + strings.Join(repl, " ↔ "),
	}
}
