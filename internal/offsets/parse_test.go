package offsets

import (
	"reflect"
	"testing"
	"time"

	"github.com/mqctl/mqctl/internal/mqerr"
)

func TestParseTo(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want To
	}{
		{"earliest", To{Kind: Earliest}},
		{"LATEST", To{Kind: Latest}},
		{"0", To{Kind: Offset, N: 0}},
		{"1234", To{Kind: Offset, N: 1234}},
		{"shift=-100", To{Kind: Shift, N: -100}},
		{"shift=5", To{Kind: Shift, N: 5}},
		{"2026-12-06T10:00:00Z", To{Kind: AtTime, Time: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)}},
		{"2026-12-06T11:00:00+01:00", To{Kind: AtTime, Time: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)}},
		{"1h", To{Kind: AtTime, Time: now.Add(-time.Hour)}},
		{"90m", To{Kind: AtTime, Time: now.Add(-90 * time.Minute)}},
	}
	for _, tc := range cases {
		got, err := ParseTo(tc.in, now)
		if err != nil {
			t.Errorf("ParseTo(%q): %v", tc.in, err)
			continue
		}
		if got.Kind != tc.want.Kind || got.N != tc.want.N || !got.Time.Equal(tc.want.Time) {
			t.Errorf("ParseTo(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"", "soon", "-1", "shift=", "shift=0", "shift=x", "-1h", "0s", "2026-13-01T00:00:00Z", "12abc"} {
		if _, err := ParseTo(bad, now); !mqerr.Is(err, mqerr.Usage) {
			t.Errorf("ParseTo(%q) = %v, want a usage error", bad, err)
		}
	}
}

func TestParseTopicAndSelection(t *testing.T) {
	cases := []struct {
		in   string
		want Topic
	}{
		{"orders", Topic{Name: "orders"}},
		{"orders:0,3", Topic{Name: "orders", Partitions: []int32{0, 3}}},
		{"orders:3,0,3", Topic{Name: "orders", Partitions: []int32{0, 3}}},
		{"a.b-c_d:7", Topic{Name: "a.b-c_d", Partitions: []int32{7}}},
	}
	for _, tc := range cases {
		got, err := ParseTopic(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseTopic(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", ":1", "orders:", "orders:x", "orders:-1", "orders:1,,2", "orders:99999999999"} {
		if _, err := ParseTopic(bad); !mqerr.Is(err, mqerr.Usage) {
			t.Errorf("ParseTopic(%q) = %v, want a usage error", bad, err)
		}
	}

	sel := Selection([]Topic{{Name: "a", Partitions: []int32{2}}, {Name: "b"}, {Name: "a", Partitions: []int32{0, 2}}, {Name: "b", Partitions: []int32{1}}})
	want := map[string][]int32{"a": {0, 2}, "b": nil}
	if !reflect.DeepEqual(sel, want) {
		t.Errorf("Selection = %v, want %v", sel, want)
	}
	if Selection(nil) != nil {
		t.Error("Selection(nil) must be nil: every topic the group committed on")
	}
}

func FuzzParseTo(f *testing.F) {
	for _, s := range []string{"earliest", "shift=-3", "12", "1h", "2026-12-06T10:00:00Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		to, err := ParseTo(s, time.Unix(0, 0))
		if err != nil && !mqerr.Is(err, mqerr.Usage) {
			t.Fatalf("ParseTo(%q): %v is not a usage error", s, err)
		}
		if err == nil && to.Kind == 0 {
			t.Fatalf("ParseTo(%q) returned no kind", s)
		}
	})
}

func FuzzParseTopic(f *testing.F) {
	for _, s := range []string{"orders", "orders:0,3", ":"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tp, err := ParseTopic(s)
		if err != nil && !mqerr.Is(err, mqerr.Usage) {
			t.Fatalf("ParseTopic(%q): %v is not a usage error", s, err)
		}
		if err == nil && tp.Name == "" {
			t.Fatalf("ParseTopic(%q) returned no name", s)
		}
	})
}
