package dlq

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestStatKey(t *testing.T) {
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
			if got := statKey(tt.in); got != tt.want {
				t.Errorf("statKey(%q) = %q, want %q", tt.in, got, tt.want)
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
		{"reasons", s.Reasons.Top(0), []Count{{"Listener failed: bad order", 2}, {"expired", 2}, {"maxlen", 2}, {"rejected", 2},
			{UnknownKey, 1}}},
		{"destinations", s.Destinations.Top(0), []Count{{"jobs", 5}, {"orders", 2}, {UnknownKey, 1}, {"mail", 1}}},
		{"exceptions", s.Exceptions.Top(0), []Count{{"java.lang.IllegalStateException", 2}}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	wantAges := []Bucket{{"<1m", 2}, {"<10m", 1}, {"<1h", 1}, {"<6h", 1}, {"<1d", 1}, {"<7d", 1}, {"older", 1}, {"unknown", 1}}
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
