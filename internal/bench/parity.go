package bench

import (
	"fmt"
	"strings"
)

// Parity is what `bench --compare` prints under its table: for each of
// confirm, disk and replication, the setting each broker ran with, and
// whether the confirm settings match (acks=all ↔ publisher confirms ↔
// PubAck). Disk and replication are shown, not judged: the brokers make
// different promises there (see the README's bench section).
func Parity(brokers []string, k Knobs) []string {
	var confirm, disk, repl []string
	confirmMatched := true
	seen := map[string]bool{}
	for _, b := range brokers {
		if seen[b] {
			continue
		}
		seen[b] = true
		switch b {
		case "kafka":
			acks := k.Acks
			if (acks == "" || acks == "all") && k.NoIdempotence {
				confirm = append(confirm, "kafka acks=all (not idempotent)")
			} else if acks == "" || acks == "all" {
				confirm = append(confirm, "kafka acks=all (idempotent)")
			} else {
				confirm = append(confirm, "kafka acks="+acks)
				confirmMatched = false
			}
			disk = append(disk, "kafka page cache (flushed by the OS)")
			repl = append(repl, fmt.Sprintf("kafka %d partition(s), the broker's default replication factor", max(k.Partitions, 1)))
		case "rabbitmq":
			if k.NoConfirm {
				confirm = append(confirm, "rabbitmq without confirms (--confirm=false)")
				confirmMatched = false
			} else {
				confirm = append(confirm, "rabbitmq publisher confirms")
			}
			qt := k.QueueType
			if qt == "" {
				qt = "classic"
			}
			if k.Persistent || qt != "classic" {
				disk = append(disk, "rabbitmq on disk before the confirm")
			} else {
				disk = append(disk, "rabbitmq transient messages (--persistent writes them to disk)")
			}
			if qt == "classic" {
				repl = append(repl, "rabbitmq classic queue (not replicated)")
			} else {
				repl = append(repl, "rabbitmq "+qt+" queue (Raft over the cluster's nodes)")
			}
		case "nats":
			if k.Core {
				confirm = append(confirm, "core nats flush (no confirm)")
				disk = append(disk, "core nats (nothing stored)")
				repl = append(repl, "core nats (nothing stored)")
				confirmMatched = false
				continue
			}
			confirm = append(confirm, "jetstream PubAck")
			storage := k.Storage
			if storage == "" {
				storage = "file"
			}
			disk = append(disk, "jetstream "+storage+" storage")
			repl = append(repl, fmt.Sprintf("jetstream R%d", max(k.Replicas, 1)))
		}
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
