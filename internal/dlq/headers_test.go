package dlq

import (
	"reflect"
	"testing"

	"github.com/mqctl/mqctl/internal/broker"
)

// A JetStream message's dead-letter copy never keeps its Nats-Msg-Id or
// the publish conditions of its first publish; its first id goes in
// mq-msg-id, and it gets an id naming the dead letter only when it has a
// stream sequence.
func TestDeadLetterNATSIDs(t *testing.T) {
	tests := []struct {
		name        string
		m           broker.Message
		id          string
		wantHeaders []broker.Header
	}{{
		name: "jetstream with an id",
		m: broker.Message{Value: []byte("v"), Headers: []broker.Header{txt("Nats-Msg-Id", "o-5"), txt("Nats-Expected-Last-Sequence", "4"), txt("a", "1")},
			NATS: broker.NATSMeta{Subject: "o.new", Stream: "O", StreamSeq: 9, MsgID: "o-5"}},
		id:          "o-5:dead-letter:O:9",
		wantHeaders: []broker.Header{txt("a", "1"), txt(HeaderMsgID, "o-5")},
	}, {
		name: "a copy of a replay keeps the first id",
		m: broker.Message{Value: []byte("v"), Headers: []broker.Header{txt("Nats-Msg-Id", "o-5:replay:1:DLQ:3"), txt(HeaderMsgID, "o-5")},
			NATS: broker.NATSMeta{Subject: "o.new", Stream: "O", StreamSeq: 12, MsgID: "o-5:replay:1:DLQ:3"}},
		id:          "o-5:dead-letter:O:12",
		wantHeaders: []broker.Header{txt(HeaderMsgID, "o-5")},
	}, {
		name:        "jetstream without an id",
		m:           broker.Message{Value: []byte("v"), NATS: broker.NATSMeta{Subject: "o.new", Stream: "O", StreamSeq: 2}},
		id:          "dead-letter:O:2",
		wantHeaders: nil,
	}, {
		name:        "core nats",
		m:           broker.Message{Value: []byte("v"), Headers: []broker.Header{txt("Nats-Msg-Id", "o-7")}, NATS: broker.NATSMeta{Subject: "o.new", MsgID: "o-7"}},
		id:          "",
		wantHeaders: []broker.Header{txt(HeaderMsgID, "o-7")},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dl := DeadLetter("nats", &tt.m, Death{Reason: "boom"})
			if dl.NATS.MsgID != tt.id {
				t.Errorf("Nats-Msg-Id %q, want %q", dl.NATS.MsgID, tt.id)
			}
			var got []broker.Header
			for _, h := range dl.Headers {
				if !isOurDeathHeader(h.Key) {
					got = append(got, h)
				}
			}
			if len(got)+len(tt.wantHeaders) > 0 && !reflect.DeepEqual(got, tt.wantHeaders) {
				t.Errorf("headers\n got %q\nwant %q", got, tt.wantHeaders)
			}
		})
	}
}
