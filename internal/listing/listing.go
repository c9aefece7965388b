// Package listing shapes `mqctl ls`: the destinations a driver lists, as
// a table with the columns that mean something for its kind of
// destination, and the names asked for that it did not list.
package listing

import (
	"slices"
	"strconv"
	"strings"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/output"
)

// Table shapes ds with the columns of their kind of destination
// (Capabilities.DestinationKind): topics, queues, or streams.
func Table(kind string, ds []broker.Destination) output.Table {
	var t output.Table
	switch kind {
	case "topic":
		t.Header = []string{"TOPIC", "PARTITIONS", "MESSAGES", "GROUPS"}
		for _, d := range ds {
			t.Rows = append(t.Rows, []string{d.Name, strconv.Itoa(d.Partitions), i64(d.Messages), strconv.Itoa(d.Consumers)})
		}
	case "queue":
		t.Header = []string{"QUEUE", "TYPE", "READY", "UNACKED", "MESSAGES", "CONSUMERS"}
		marked := slices.ContainsFunc(ds, func(d broker.Destination) bool {
			return d.Stats == lag.StatsAbsent || d.Stats == lag.StatsBehind
		})
		if marked {
			t.Header = append(t.Header, "STATS")
		}
		for _, d := range ds {
			row := []string{d.Name, dash(d.QueueType), optI64(d.Ready), optI64(d.Unacked), i64(d.Messages), strconv.Itoa(d.Consumers)}
			if d.Stats == lag.StatsAbsent {
				// Unknown, not empty.
				row = []string{d.Name, dash(d.QueueType), "?", "?", "?", "?"}
			}
			if marked {
				row = append(row, dash(d.Stats))
			}
			t.Rows = append(t.Rows, row)
		}
	default:
		t.Header = []string{"STREAM", "SUBJECTS", "MESSAGES", "BYTES", "CONSUMERS"}
		for _, d := range ds {
			t.Rows = append(t.Rows, []string{d.Name, strings.Join(d.Subjects, ","), i64(d.Messages), strconv.FormatUint(d.Bytes, 10), strconv.Itoa(d.Consumers)})
		}
	}
	return t
}

// Missing are the names, quoted and without repeats, that ds does not
// hold.
func Missing(names []string, ds []broker.Destination) []string {
	var missing []string
	for _, n := range names {
		if !slices.ContainsFunc(ds, func(d broker.Destination) bool { return d.Name == n }) && !slices.Contains(missing, strconv.Quote(n)) {
			missing = append(missing, strconv.Quote(n))
		}
	}
	return missing
}

// StatsRows are ds as lag rows that carry only their statistics' state,
// for the note on counts that are unknown or behind.
func StatsRows(ds []broker.Destination) []lag.Row {
	var rows []lag.Row
	for _, d := range ds {
		rows = append(rows, lag.Row{Queue: d.Name, Stats: d.Stats})
	}
	return rows
}

// InContext sets each destination's context.
func InContext(ds []broker.Destination, context string) {
	for i := range ds {
		ds[i].Context = context
	}
}

func i64(v int64) string { return strconv.FormatInt(v, 10) }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// optI64 prints a count the broker may not have given: "?" when unknown.
func optI64(v *int64) string {
	if v == nil {
		return "?"
	}
	return i64(*v)
}
