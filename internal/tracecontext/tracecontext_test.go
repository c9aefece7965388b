package tracecontext

import (
	"strings"
	"testing"

	"github.com/mqctl/mqctl/internal/broker"
)

const example = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestValid(t *testing.T) {
	for s, want := range map[string]bool{
		example: true,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00":          true,
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-whatever": true, // a later version may add fields
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01":          true,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x":        false, // version 00 has no more fields
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x":         false,
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01":          false,
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01":          false,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01":          false,
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01":          false, // upper case
		"00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01":          false,
		"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01":          false,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g":          false,
		"":    false,
		"00-": false,
	} {
		if got := Valid(s); got != want {
			t.Errorf("Valid(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestNew(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		s := New()
		if !Valid(s) || !strings.HasPrefix(s, "00-") || !strings.HasSuffix(s, "-01") {
			t.Fatalf("New() = %q: not a version 00 sampled traceparent", s)
		}
		if seen[s[3:35]] {
			t.Fatalf("trace id %s twice in 1000", s[3:35])
		}
		seen[s[3:35]] = true
	}
}

func TestFromHeaders(t *testing.T) {
	h := func(kv ...string) []broker.Header {
		var hs []broker.Header
		for i := 0; i < len(kv); i += 2 {
			hs = append(hs, broker.Header{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return hs
	}
	for _, tc := range []struct {
		name          string
		hs            []broker.Header
		parent, state string
	}{
		{"both", h("traceparent", example, "tracestate", "congo=t61rcWkgMzE"), example, "congo=t61rcWkgMzE"},
		{"any case, states joined", h("Traceparent", example, "TraceState", "a=1", "other", "x", "tracestate", "b=2"), example, "a=1,b=2"},
		{"no state", h("traceparent", example), example, ""},
		{"invalid parent drops state", h("traceparent", "00-xyz", "tracestate", "a=1"), "", ""},
		{"two parents", h("traceparent", example, "traceparent", example), "", ""},
		{"state alone", h("tracestate", "a=1"), "", ""},
		{"none", nil, "", ""},
	} {
		p, s := FromHeaders(tc.hs)
		if p != tc.parent || s != tc.state {
			t.Errorf("%s: (%q, %q), want (%q, %q)", tc.name, p, s, tc.parent, tc.state)
		}
	}
}

func FuzzValid(f *testing.F) {
	f.Add(example)
	f.Add("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x")
	f.Fuzz(func(t *testing.T, s string) {
		if !Valid(s) {
			return
		}
		// What Valid accepts has the W3C shape, so a handler can split it.
		parts := strings.SplitN(s, "-", 5)
		if len(parts) < 4 || len(parts[1]) != 32 || len(parts[2]) != 16 || len(parts[3]) != 2 {
			t.Errorf("Valid(%q) but its fields are %q", s, parts)
		}
	})
}

func TestTraceID(t *testing.T) {
	for _, c := range []struct {
		name string
		hs   []broker.Header
		want string
	}{
		{"valid", []broker.Header{{Key: "Traceparent", Value: []byte(example)}}, "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"invalid", []broker.Header{{Key: "traceparent", Value: []byte("00-xyz-00f067aa0ba902b7-01")}}, ""},
		{"two", []broker.Header{
			{Key: "traceparent", Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")},
			{Key: "traceparent", Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4737-00f067aa0ba902b7-01")}}, ""},
		{"none", nil, ""},
	} {
		if got := TraceID(c.hs); got != c.want {
			t.Errorf("%s: TraceID = %q, want %q", c.name, got, c.want)
		}
	}
}
