package broker

import (
	"testing"
	"time"
)

func TestRetryName(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Second: "q.retry.30s", 2 * time.Minute: "q.retry.2m", 90 * time.Minute: "q.retry.1h30m",
		time.Hour: "q.retry.1h", 1500 * time.Millisecond: "q.retry.1500ms", 61 * time.Second: "q.retry.1m1s",
		time.Hour + time.Second: "q.retry.1h0m1s",
	} {
		if got := RetryName("q", d); got != want {
			t.Errorf("RetryName(q, %s) = %q, want %q", d, got, want)
		}
	}
}

func TestHeaderAttempt(t *testing.T) {
	for _, tc := range []struct {
		hs   []Header
		want int
	}{
		{nil, 1},
		{[]Header{{Key: "mqctl-attempt", Value: []byte("3")}}, 3},
		{[]Header{{Key: "MQCTL-ATTEMPT", Value: []byte(" 2 ")}, {Key: "mqctl-attempt", Value: []byte("4")}}, 4},
		{[]Header{{Key: "mqctl-attempt", Value: []byte("0")}}, 1},
		{[]Header{{Key: "mqctl-attempt", Value: []byte("x")}}, 1},
		{[]Header{{Key: "mqctl-attempt", Value: nil}}, 1},
	} {
		if got := HeaderAttempt(&Message{Headers: tc.hs}); got != tc.want {
			t.Errorf("HeaderAttempt(%v) = %d, want %d", tc.hs, got, tc.want)
		}
	}
}

func TestWithAttempt(t *testing.T) {
	hs := []Header{{Key: "a", Value: []byte("1")}, {Key: "mqctl-attempt", Value: []byte("2")}, {Key: "drop", Value: []byte("x")}, {Key: "a", Value: []byte("2")}}
	got := WithAttempt(hs, 3, func(n string) bool { return n == "drop" })
	want := []Header{{Key: "a", Value: []byte("1")}, {Key: "a", Value: []byte("2")}, {Key: "mqctl-attempt", Value: []byte("3")}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].Key != want[i].Key || string(got[i].Value) != string(want[i].Value) {
			t.Errorf("got %v, want %v", got, want)
		}
	}
	if string(hs[1].Value) != "2" || len(hs) != 4 {
		t.Errorf("the input changed: %v", hs)
	}
}
