package dlq

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestOneLine(t *testing.T) {
	long := strings.Repeat("é", 200)
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"short", "rejected", "rejected"},
		{"lines and tabs collapse", "  Listener failed;\n\tnested exception\r\n is X  ", "Listener failed; nested exception is X"},
		{"cut at 120 characters, not bytes", long, strings.Repeat("é", 120) + "…"},
		{"exactly 120 characters", strings.Repeat("a", 120), strings.Repeat("a", 120)},
		{"a space at the cut", strings.Repeat("a", 119) + " bc", strings.Repeat("a", 119) + "…"},
		{"trailing space after 120", strings.Repeat("a", 120) + "   ", strings.Repeat("a", 120)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := OneLine(tt.in, 120); got != tt.want {
				t.Errorf("OneLine(%q, 120) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestTallyTop(t *testing.T) {
	var tl Tally
	for _, k := range []string{"b", "a", "c", "a", "b", "a", "d"} {
		tl.add(k)
	}
	tests := []struct {
		n    int
		want []Count
	}{
		{0, []Count{{"a", 3}, {"b", 2}, {"c", 1}, {"d", 1}}},
		{-1, []Count{{"a", 3}, {"b", 2}, {"c", 1}, {"d", 1}}},
		{2, []Count{{"a", 3}, {"b", 2}}},
		{3, []Count{{"a", 3}, {"b", 2}, {"c", 1}}},
		{10, []Count{{"a", 3}, {"b", 2}, {"c", 1}, {"d", 1}}},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.n), func(t *testing.T) {
			if got := tl.Top(tt.n); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Top(%d) = %v, want %v", tt.n, got, tt.want)
			}
		})
	}
	var empty Tally
	if got := empty.Top(3); len(got) != 0 {
		t.Errorf("empty Top = %v", got)
	}
}

// However many distinct keys come, a Tally keeps 1000 and counts the rest
// as (other), while keys it kept go on counting.
func TestTallyBounded(t *testing.T) {
	var tl Tally
	for i := range 100_000 {
		tl.add("reason " + strconv.Itoa(i))
		tl.add("reason 0")
	}
	all := tl.Top(0)
	if len(all) != maxTallyKeys+1 {
		t.Fatalf("kept %d keys, want %d", len(all), maxTallyKeys+1)
	}
	want := []Count{{"reason 0", 100_001}, {OtherKey, 99_000}}
	if got := tl.Top(2); !reflect.DeepEqual(got, want) {
		t.Errorf("Top(2) = %v, want %v", got, want)
	}
	var total int64
	for _, c := range all {
		total += c.Count
	}
	if total != 200_000 {
		t.Errorf("counted %d, want 200000", total)
	}
}

// Keys are kept whole however long, and their bytes are bounded: once
// 4 MiB are kept, new keys count as (other).
func TestTallyBoundedBytes(t *testing.T) {
	var tl Tally
	long := strings.Repeat("x", 1<<20) // a stack trace of 1 MiB
	for i := range 6 {
		tl.add(strconv.Itoa(i) + long)
	}
	got := tl.Top(0)
	if len(got) != 4 || got[0].Key != OtherKey || got[0].Count != 3 {
		t.Fatalf("kept %d keys, first %.10q x %d; want (other) x 3 and 3 whole keys", len(got), got[0].Key, got[0].Count)
	}
	for _, c := range got[1:] {
		if len(c.Key) != 1<<20+1 {
			t.Errorf("a kept key has %d bytes, want it whole", len(c.Key))
		}
	}
}

func TestStats(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	adds := []struct {
		o  Origin
		ts time.Time
	}{
		{Origin{Reason: "rejected", Destination: "jobs"}, ago(30 * time.Second)},
		{Origin{Reason: "rejected", Destination: "jobs"}, now.Add(time.Hour)}, // clock skew
		{Origin{Reason: "expired", Destination: "jobs"}, ago(time.Minute)},
		{Origin{Reason: "expired", Destination: "mail"}, ago(59 * time.Minute)},
		{Origin{Reason: "Listener failed:\n bad order", ExceptionClass: "java.lang.IllegalStateException", Destination: "orders"},
			ago(2 * time.Hour)},
		{Origin{Reason: "Listener failed: bad order", ExceptionClass: "java.lang.IllegalStateException", Destination: "orders"},
			ago(6 * time.Hour)},
		{Origin{}, ago(3 * 24 * time.Hour)},
		// An advisory whose message is gone counts under its stream.
		{Origin{Reason: "max_deliveries", Stream: "ORDERS", StreamSeq: 9}, ago(3 * 24 * time.Hour)},
		{Origin{Reason: "maxlen", Destination: "jobs"}, ago(30 * 24 * time.Hour)},
		{Origin{Reason: "maxlen", Destination: "jobs"}, time.Time{}},
	}
	s := NewStats(now)
	for _, a := range adds {
		s.Add(a.o, a.ts)
	}
	if s.Total != int64(len(adds)) {
		t.Errorf("Total = %d, want %d", s.Total, len(adds))
	}
	checks := []struct {
		name string
		got  []Count
		want []Count
	}{
		// Reasons are kept as they are, the same text peek shows.
		{"reasons", s.Reasons.Top(0), []Count{{"expired", 2}, {"maxlen", 2}, {"rejected", 2},
			{UnknownKey, 1}, {"Listener failed:\n bad order", 1}, {"Listener failed: bad order", 1}, {ReasonMaxDeliveries, 1}}},
		{"destinations", s.Destinations.Top(0), []Count{{"jobs", 5}, {"orders", 2}, {UnknownKey, 1}, {"ORDERS", 1}, {"mail", 1}}},
		{"exceptions", s.Exceptions.Top(0), []Count{{"java.lang.IllegalStateException", 2}}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	wantAges := []Bucket{{"<1m", 2}, {"<10m", 1}, {"<1h", 1}, {"<6h", 1}, {"<1d", 1}, {"<7d", 2}, {"older", 1}, {"unknown", 1}}
	if got := s.Ages(); !reflect.DeepEqual(got, wantAges) {
		t.Errorf("Ages = %v, want %v", got, wantAges)
	}
	if got, want := s.Oldest(), ago(30*24*time.Hour); !got.Equal(want) {
		t.Errorf("Oldest = %v, want %v", got, want)
	}
	if got, want := s.Newest(), now.Add(time.Hour); !got.Equal(want) {
		t.Errorf("Newest = %v, want %v", got, want)
	}
}

func TestStatsEmpty(t *testing.T) {
	s := NewStats(time.Now())
	if !s.Oldest().IsZero() || !s.Newest().IsZero() || s.Total != 0 {
		t.Errorf("empty stats: oldest %v newest %v total %d", s.Oldest(), s.Newest(), s.Total)
	}
	for _, b := range s.Ages() {
		if b.Count != 0 {
			t.Errorf("empty bucket %s = %d", b.Label, b.Count)
		}
	}
}
