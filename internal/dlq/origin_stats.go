package dlq

import (
	"cmp"
	"slices"
	"strings"
	"time"
	"unicode"
)

const (
	// OtherKey counts what came after a Tally was full.
	OtherKey = "(other)"
	// UnknownKey counts dead letters whose reason or origin is unknown.
	UnknownKey = "(unknown)"

	// maxTallyKeys and maxTallyBytes bound a Tally so `dlq stats` stays
	// in bounded memory whatever the DLQ size and however long its
	// exception messages: keys are kept whole, never cut.
	maxTallyKeys  = 1000
	maxTallyBytes = 4 << 20
)

// Count is one key of a Tally and how often it was seen.
type Count struct {
	Key   string `json:"key"`
	Count int64  `json:"count"`
}

// Tally counts keys, keeping at most 1000 distinct ones of 4 MiB in all;
// later new keys are counted under OtherKey. The zero value is ready to
// use.
type Tally struct {
	counts map[string]int64
	bytes  int
}

func (t *Tally) add(key string) {
	if t.counts == nil {
		t.counts = make(map[string]int64)
	}
	if _, seen := t.counts[key]; !seen {
		if len(t.counts) >= maxTallyKeys || t.bytes+len(key) > maxTallyBytes {
			key = OtherKey
		} else {
			t.bytes += len(key)
		}
	}
	t.counts[key]++
}

// Top returns the n most frequent keys, most frequent first (ties by
// key), or all of them when n <= 0.
func (t *Tally) Top(n int) []Count {
	out := make([]Count, 0, len(t.counts))
	for k, c := range t.counts {
		out = append(out, Count{Key: k, Count: c})
	}
	slices.SortFunc(out, func(a, b Count) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	if n > 0 && n < len(out) {
		out = out[:n]
	}
	return out
}

// Bucket is one bar of the age histogram.
type Bucket struct {
	Label string `json:"label"`
	Count int64  `json:"count"`
}

// ageBuckets are the histogram's upper bounds; two more buckets follow:
// "older" and "unknown" (no timestamp).
var ageBuckets = []struct {
	label string
	below time.Duration
}{
	{"<1m", time.Minute},
	{"<10m", 10 * time.Minute},
	{"<1h", time.Hour},
	{"<6h", 6 * time.Hour},
	{"<1d", 24 * time.Hour},
	{"<7d", 7 * 24 * time.Hour},
}

// Stats accumulates `dlq stats` over a stream of dead letters in bounded
// memory: counts by reason, original destination and exception class,
// and an age histogram.
type Stats struct {
	Total int64
	// Reasons counts Origin.Reason as it is (the same text peek shows);
	// UnknownKey when there is none.
	Reasons Tally
	// Destinations counts Origin.Where(); UnknownKey when there is none.
	Destinations Tally
	// Exceptions counts Origin.ExceptionClass where there is one.
	Exceptions Tally

	now            time.Time
	ages           []int64
	oldest, newest time.Time
}

// NewStats returns an empty Stats measuring ages at now.
func NewStats(now time.Time) *Stats {
	return &Stats{now: now, ages: make([]int64, len(ageBuckets)+2)}
}

// Add counts one dead letter with origin o and timestamp ts (when it was
// dead-lettered; zero when unknown).
func (s *Stats) Add(o Origin, ts time.Time) {
	s.Total++
	s.Reasons.add(orUnknown(o.Reason))
	s.Destinations.add(orUnknown(o.Where()))
	if o.ExceptionClass != "" {
		s.Exceptions.add(o.ExceptionClass)
	}
	if ts.IsZero() {
		s.ages[len(s.ages)-1]++
		return
	}
	if s.oldest.IsZero() || ts.Before(s.oldest) {
		s.oldest = ts
	}
	if s.newest.IsZero() || ts.After(s.newest) {
		s.newest = ts
	}
	age := s.now.Sub(ts)
	for i, b := range ageBuckets {
		if age < b.below {
			s.ages[i]++
			return
		}
	}
	s.ages[len(ageBuckets)]++
}

// Ages returns the age histogram: <1m, <10m, <1h, <6h, <1d, <7d, older,
// unknown. A timestamp in the future counts as <1m.
func (s *Stats) Ages() []Bucket {
	out := make([]Bucket, 0, len(s.ages))
	for i, b := range ageBuckets {
		out = append(out, Bucket{Label: b.label, Count: s.ages[i]})
	}
	return append(out,
		Bucket{Label: "older", Count: s.ages[len(ageBuckets)]},
		Bucket{Label: "unknown", Count: s.ages[len(ageBuckets)+1]})
}

// Oldest returns the earliest timestamp added, zero when none had one.
func (s *Stats) Oldest() time.Time { return s.oldest }

// Newest returns the latest timestamp added, zero when none had one.
func (s *Stats) Newest() time.Time { return s.newest }

// OneLine makes s one line of at most n characters (plus an ellipsis
// when cut) for a table cell: runs of whitespace, line breaks included,
// become one space. Exception messages can span lines and pages.
func OneLine(s string, n int) string {
	var b strings.Builder
	width := 0
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = width > 0
			continue
		}
		need := 1
		if space {
			need = 2
		}
		if width+need > n {
			b.WriteRune('…')
			break
		}
		if space {
			b.WriteByte(' ')
			width++
			space = false
		}
		b.WriteRune(r)
		width++
	}
	return b.String()
}

func orUnknown(key string) string {
	if key == "" {
		return UnknownKey
	}
	return key
}
