package dlq

import (
	"reflect"
	"slices"
	"testing"

	"github.com/mqctl/mqctl/internal/broker"
)

func TestStripForReplay(t *testing.T) {
	tests := []struct {
		name    string
		headers []broker.Header
		want    []broker.Header
	}{{
		name: "no headers",
		want: []broker.Header{txt(HeaderReplayCount, "1")},
	}, {
		name: "rabbitmq death headers go, user headers stay in order",
		headers: []broker.Header{txt("trace-id", "t1"),
			txt("x-first-death-exchange", ""), txt("x-first-death-queue", "jobs"), txt("x-first-death-reason", "rejected"),
			hdr("x-death", xDeathJSON(t, death("jobs", "rejected", "", 1, t0, "jobs"))),
			txt("x-last-death-exchange", ""), txt("x-last-death-queue", "jobs"), txt("x-last-death-reason", "rejected"),
			txt("x-delivery-count", "3"), txt("CC", "audit"), txt("x-acquired-count", "4"), txt("x-custom", "keep")},
		want: []broker.Header{txt("trace-id", "t1"), txt("CC", "audit"), txt("x-custom", "keep"), txt(HeaderReplayCount, "1")},
	}, {
		name: "an earlier replay count is replaced by one more",
		headers: []broker.Header{txt("a", "1"), txt(HeaderReplayCount, "2"), txt("b", "2"),
			txt(HeaderOriginalDestination, "orders"), txt(HeaderDeathReason, "boom")},
		want: []broker.Header{txt("a", "1"), txt("b", "2"), txt(HeaderReplayCount, "3")},
	}, {
		name:    "a malformed replay count starts again at one",
		headers: []broker.Header{txt(HeaderReplayCount, "many")},
		want:    []broker.Header{txt(HeaderReplayCount, "1")},
	}, {
		name: "spring and retry-topic headers go, repeated user headers and binary values stay",
		headers: []broker.Header{txt("__TypeId__", "com.example.Order"), hdr("bin", []byte{0, 0xff}),
			txt("kafka_dlt-original-topic", "orders"), hdr("kafka_dlt-original-partition", be32(1)),
			txt("kafka_dlt-exception-message", "boom"), hdr("retry_topic-attempts", be32(3)),
			hdr("retry_topic-backoff-timestamp", be64(t0.UnixMilli())), hdr("bin", []byte{1})},
		want: []broker.Header{txt("__TypeId__", "com.example.Order"), hdr("bin", []byte{0, 0xff}), hdr("bin", []byte{1}),
			txt(HeaderReplayCount, "1")},
	}, {
		name: "kafka connect headers go",
		headers: []broker.Header{txt("__connect.errors.topic", "t"), txt("__connect.errors.exception.message", "x"),
			txt("__connect.error", "not connect's")},
		want: []broker.Header{txt("__connect.error", "not connect's"), txt(HeaderReplayCount, "1")},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &broker.Message{Headers: tt.headers}
			before := slices.Clone(m.Headers)
			got := StripForReplay(m)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("StripForReplay\n got %q\nwant %q", got, tt.want)
			}
			if !reflect.DeepEqual(m.Headers, before) {
				t.Errorf("StripForReplay changed the message's headers to %q", m.Headers)
			}
		})
	}
}

// A message mqctl dead-lettered goes back with exactly the headers it had.
func TestStripForReplayUndoesDeadLetter(t *testing.T) {
	orig := &broker.Message{Value: []byte("v"), Destination: "orders",
		Headers: []broker.Header{txt("trace-id", "t1"), hdr("bin", []byte{0xc3}), txt("trace-id", "t2")},
		Kafka:   broker.KafkaMeta{Partition: 1, Offset: 7}}
	dl := DeadLetter("kafka", orig, Death{Reason: "boom", Time: t0, Count: 3})
	want := append(slices.Clone(orig.Headers), txt(HeaderReplayCount, "1"))
	if got := StripForReplay(dl); !reflect.DeepEqual(got, want) {
		t.Errorf("StripForReplay(DeadLetter(m))\n got %q\nwant %q", got, want)
	}
}

func TestReplayCount(t *testing.T) {
	tests := []struct {
		name    string
		headers []broker.Header
		want    int
	}{
		{"missing", nil, 0},
		{"set", []broker.Header{txt(HeaderReplayCount, "5")}, 5},
		{"the last of several wins", []broker.Header{txt(HeaderReplayCount, "5"), txt(HeaderReplayCount, "6")}, 6},
		{"negative", []broker.Header{txt(HeaderReplayCount, "-1")}, 0},
		{"padded", []broker.Header{txt(HeaderReplayCount, " 5")}, 0},
		{"binary", []broker.Header{hdr(HeaderReplayCount, be32(5))}, 0},
		{"too large", []broker.Header{txt(HeaderReplayCount, "99999999999")}, 0},
		{"an x- header is never read", []broker.Header{txt("x-replay-count", "4"), txt("x-death", "[]")}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ReplayCount(&broker.Message{Headers: tt.headers}); got != tt.want {
				t.Errorf("ReplayCount = %d, want %d", got, tt.want)
			}
		})
	}
}
