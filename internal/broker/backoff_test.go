package broker

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		n        int
		min, max time.Duration
	}{
		{0, 50 * time.Millisecond, 100 * time.Millisecond},
		{1, 100 * time.Millisecond, 200 * time.Millisecond},
		{5, 1600 * time.Millisecond, 3200 * time.Millisecond},
		{6, 2500 * time.Millisecond, 5 * time.Second},
		{100, 2500 * time.Millisecond, 5 * time.Second},
	}
	for _, tt := range tests {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := Backoff(tt.n)
			if d < tt.min || d > tt.max {
				t.Fatalf("Backoff(%d) = %v, want between %v and %v", tt.n, d, tt.min, tt.max)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("Backoff(%d) has no jitter", tt.n)
		}
	}
}
