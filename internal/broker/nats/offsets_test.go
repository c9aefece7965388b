package nats

import "testing"

func TestResetsInPlace(t *testing.T) {
	for v, want := range map[string]bool{
		"2.14.0": true, "2.15.2": true, "v2.14.0-RC.1": true, "3.0.0": true,
		"2.13.9": false, "2.10.22": false, "1.99.0": false, "": false, "x": false,
	} {
		if got := resetsInPlace(v); got != want {
			t.Errorf("resetsInPlace(%q) = %v, want %v", v, got, want)
		}
	}
}
