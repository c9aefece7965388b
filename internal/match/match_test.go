package match

import (
	"strings"
	"testing"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

func TestFilter(t *testing.T) {
	m := &broker.Message{Key: []byte("cust-7"), Value: []byte(`{"total": 99}`), Headers: []broker.Header{
		{Key: "source", Value: []byte("web")}, {Key: "trace", Value: []byte("a")}, {Key: "trace", Value: []byte("b")},
	}}
	tests := []struct {
		grep, keyGrep string
		headers       []string
		want          bool
	}{
		{"", "", nil, true},
		{`"total": 9\d`, "", nil, true},
		{`"total": 1`, "", nil, false},
		{"", "^cust-", nil, true},
		{"", "^order-", nil, false},
		{"", "", []string{"source=web"}, true},
		{"", "", []string{"source=app"}, false},
		{"", "", []string{"trace=b"}, true}, // any of the repeated values
		{"", "", []string{"trace"}, true},
		{"", "", []string{"missing"}, false},
		{"total", "cust", []string{"source=web", "trace=a"}, true},
		{"total", "cust", []string{"source=web", "trace=c"}, false},
	}
	for _, tc := range tests {
		f, err := New(tc.grep, tc.keyGrep, tc.headers)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Match(m); got != tc.want {
			t.Errorf("grep %q key %q headers %v: Match = %v, want %v", tc.grep, tc.keyGrep, tc.headers, got, tc.want)
		}
	}
	if _, err := New("(", "", nil); !mqerr.Is(err, mqerr.Usage) || !strings.Contains(err.Error(), "--grep") {
		t.Errorf("bad regexp: %v", err)
	}
	if _, err := New("", "", []string{"=x"}); !mqerr.Is(err, mqerr.Usage) {
		t.Errorf("header without name: %v", err)
	}
}
