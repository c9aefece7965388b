package broker

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/mqctl/mqctl/internal/mqerr"
)

func TestKeyFromHeaders(t *testing.T) {
	h := func(k, v string) Header { return Header{Key: k, Value: []byte(v)} }
	tests := []struct {
		name    string
		m       Message
		key     []byte
		headers []Header
	}{
		{"carried", Message{KeyInHeader: true, Headers: []Header{h("a", "1"), h(KeyHeader, "k1"), h("b", "2")}},
			[]byte("k1"), []Header{h("a", "1"), h("b", "2")}},
		{"carried empty", Message{KeyInHeader: true, Headers: []Header{h(KeyHeader, "")}}, []byte{}, []Header{}},
		{"carried base64", Message{KeyInHeader: true, Headers: []Header{h(KeyHeaderB64, "/wA=")}}, []byte{0xff, 0}, []Header{}},
		{"no key, no header", Message{KeyInHeader: true, Headers: []Header{h("a", "1")}}, nil, []Header{h("a", "1")}},
		{"own key wins, header stays", Message{KeyInHeader: true, Key: []byte("own"), Headers: []Header{h(KeyHeader, "k1")}},
			[]byte("own"), []Header{h(KeyHeader, "k1")}},
		{"two key headers", Message{KeyInHeader: true, Headers: []Header{h(KeyHeader, "k1"), h(KeyHeaderB64, "/wA=")}},
			nil, []Header{h(KeyHeader, "k1"), h(KeyHeaderB64, "/wA=")}},
		{"null value", Message{KeyInHeader: true, Headers: []Header{{Key: KeyHeader}}}, nil, []Header{{Key: KeyHeader}}},
		{"not base64", Message{KeyInHeader: true, Headers: []Header{h(KeyHeaderB64, "%%")}}, nil, []Header{h(KeyHeaderB64, "%%")}},
		// A Kafka record (or a message with no origin) keeps the header as
		// data: Kafka to Kafka is a byte-for-byte copy.
		{"from kafka or new", Message{Kafka: KafkaMeta{Partition: 2, Offset: 7}, Headers: []Header{h(KeyHeader, "k1")}},
			nil, []Header{h(KeyHeader, "k1")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := append([]Header(nil), tc.m.Headers...)
			key, headers := KeyFromHeaders(&tc.m)
			if !bytes.Equal(key, tc.key) || (key == nil) != (tc.key == nil) {
				t.Errorf("key %#v, want %#v", key, tc.key)
			}
			if !reflect.DeepEqual(headers, tc.headers) {
				t.Errorf("headers %v, want %v", headers, tc.headers)
			}
			if !reflect.DeepEqual(tc.m.Headers, before) {
				t.Errorf("the message's headers changed: %v, were %v", tc.m.Headers, before)
			}
		})
	}
	// HeadersWithKey and KeyFromHeaders undo each other.
	for _, key := range [][]byte{nil, {}, []byte("k"), {0xff, 0}} {
		m := Message{Key: key, Headers: []Header{h("a", "1")}}
		fits := func(b []byte) bool { return len(b) == 0 || b[0] != 0xff }
		carried, err := HeadersWithKey(&m, fits)
		if err != nil {
			t.Fatalf("key %#v: %v", key, err)
		}
		back := Message{KeyInHeader: true, Headers: carried}
		k, hs := KeyFromHeaders(&back)
		if !bytes.Equal(k, key) || (k == nil) != (key == nil) || !reflect.DeepEqual(hs, m.Headers) {
			t.Errorf("key %#v: back as %#v %v", key, k, hs)
		}
	}
}

// A record with a key and a header named like the carrier cannot carry
// both: it fails instead of losing the key; without a key the header is
// plain data.
func TestHeadersWithKeyRefusesTakenName(t *testing.T) {
	for _, name := range []string{KeyHeader, KeyHeaderB64} {
		m := Message{Key: []byte("k"), Headers: []Header{{Key: name, Value: []byte("user's")}}}
		hs, err := HeadersWithKey(&m, nil)
		if err == nil || mqerr.KindOf(err) != mqerr.Usage || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: headers %v, err %v; want a usage error naming the header", name, hs, err)
		}
		m.Key = nil
		if hs, err := HeadersWithKey(&m, nil); err != nil || !reflect.DeepEqual(hs, m.Headers) {
			t.Errorf("%s without a key: %v, %v; want the headers as they are", name, hs, err)
		}
	}
}
