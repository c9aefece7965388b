// Package offsets plans and applies a reset of a consumer group's stored
// positions (`mqctl offsets reset`): Kafka committed offsets, or a
// JetStream durable consumer's next sequence. Plan reads the positions
// and computes the new ones without changing anything; Apply stores a
// plan. Both go through broker.OffsetResetter, so the TUI can use them
// as the command does.
package offsets

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mqctl/mqctl/internal/mqerr"
)

// Kind is the form of a --to target.
type Kind int

const (
	Earliest Kind = iota + 1
	Latest
	// AtTime: the first position at or after To.Time.
	AtTime
	// Offset: the position To.N in every selected partition.
	Offset
	// Shift: the current position moved by To.N (negative goes back).
	Shift
)

// To is where a reset moves each partition.
type To struct {
	Kind Kind
	N    int64
	Time time.Time
}

// String is To as the user would write it.
func (t To) String() string {
	switch t.Kind {
	case Earliest:
		return "earliest"
	case Latest:
		return "latest"
	case AtTime:
		return t.Time.UTC().Format(time.RFC3339)
	case Shift:
		return fmt.Sprintf("shift=%d", t.N)
	}
	return strconv.FormatInt(t.N, 10)
}

// ParseTo reads a --to value: earliest, latest, shift=N (N may be
// negative), a non-negative OFFSET, an RFC 3339 time, or a duration ago
// ("1h", "90m") relative to now.
func ParseTo(s string, now time.Time) (To, error) {
	v := strings.TrimSpace(s)
	switch strings.ToLower(v) {
	case "earliest":
		return To{Kind: Earliest}, nil
	case "latest":
		return To{Kind: Latest}, nil
	}
	if n, ok := strings.CutPrefix(v, "shift="); ok {
		d, err := strconv.ParseInt(n, 10, 64)
		if err != nil || d == 0 {
			return To{}, mqerr.Usagef("--to %s: shift=N wants a non-zero whole number such as shift=-100", s)
		}
		return To{Kind: Shift, N: d}, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return To{}, mqerr.Usagef("--to %s: an offset is 0 or more (shift=%d moves back from the current offset)", s, n)
		}
		return To{Kind: Offset, N: n}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return To{Kind: AtTime, Time: t}, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return To{Kind: AtTime, Time: now.Add(-d)}, nil
	}
	return To{}, mqerr.Usagef("--to %s: want earliest, latest, an offset, shift=N, an RFC 3339 time (2026-12-06T10:00:00Z) or a duration ago (1h)", s)
}

// Topic selects one topic (or JetStream stream) and, optionally, some of
// its partitions.
type Topic struct {
	Name string
	// Partitions is nil for every partition.
	Partitions []int32
}

// ParseTopic reads a --topic value: NAME, or NAME:P[,P...] for some
// partitions ("orders:0,3").
func ParseTopic(s string) (Topic, error) {
	name, parts, has := strings.Cut(s, ":")
	if name == "" {
		return Topic{}, mqerr.Usagef("--topic %q: want NAME or NAME:PARTITION[,PARTITION...]", s)
	}
	t := Topic{Name: name}
	if !has {
		return t, nil
	}
	for p := range strings.SplitSeq(parts, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 32)
		if err != nil || n < 0 {
			return Topic{}, mqerr.Usagef("--topic %q: partition %q is not a number 0 or more", s, p)
		}
		if !slices.Contains(t.Partitions, int32(n)) {
			t.Partitions = append(t.Partitions, int32(n))
		}
	}
	slices.Sort(t.Partitions)
	return t, nil
}

// Selection merges --topic values into an OffsetQuery's Topics: nil for
// none; a topic named twice keeps every partition either named (or all,
// when one of them named none).
func Selection(ts []Topic) map[string][]int32 {
	if len(ts) == 0 {
		return nil
	}
	all := map[string]bool{}
	out := map[string][]int32{}
	for _, t := range ts {
		if t.Partitions == nil {
			all[t.Name] = true
		}
		out[t.Name] = append(out[t.Name], t.Partitions...)
	}
	for name, ps := range out {
		if all[name] {
			out[name] = nil
			continue
		}
		slices.Sort(ps)
		out[name] = slices.Compact(ps)
	}
	return out
}
