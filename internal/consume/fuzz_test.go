package consume

import (
	"bufio"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// usageLine fails t unless err is a usage error of one line: what every
// bad flag value must give.
func usageLine(t *testing.T, what, in string, err error) {
	t.Helper()
	if mqerr.KindOf(err) != mqerr.Usage || strings.Contains(err.Error(), "\n") {
		t.Fatalf("%s %q: error %q (kind %v): want one usage line", what, in, err, mqerr.KindOf(err))
	}
}

func FuzzParseFrom(f *testing.F) {
	for _, s := range []string{"beginning", "END", "stored", "42", "0", "-10", "-9223372036854775808", "9223372036854775807",
		"2026-11-22T10:00:00Z", "2026-11-22T10:00:00.123456789+02:00", "15m", "2h30m", "-15m", "0s", "", " ", "1e3", "+5", "０",
		"-0", "+0", "2030-01-01T00:00:00Z", "2026-11-22T12:01:00Z"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseFrom(s, now)
		if err != nil {
			usageLine(t, "--from", s, err)
			return
		}
		switch p.Kind {
		case broker.StartBeginning, broker.StartEnd, broker.StartStored:
		case broker.StartOffset:
			if p.N < 0 {
				t.Fatalf("--from %q: offset %d", s, p.N)
			}
		case broker.StartLast:
			if p.N <= 0 {
				t.Fatalf("--from %q: the last %d", s, p.N)
			}
		case broker.StartTime:
			if p.Time.IsZero() || p.Time.After(now.Add(FutureSkew)) {
				t.Fatalf("--from %q: time %v (now %v)", s, p.Time, now)
			}
		default:
			t.Fatalf("--from %q: kind %v", s, p.Kind)
		}
	})
}

// FuzzTemplatePrinter: any -o template= either is refused with one usage
// line or prints a hostile message without panicking. Templates that
// range are only parsed: ranging over a large number runs for as long.
func FuzzTemplatePrinter(f *testing.F) {
	for _, s := range []string{"{{.Value}}", "{{.Key}} {{.Header \"x\"}}", "{{.Nope}}", "{{index .Headers 5}}", "{{slice .Value 3 1}}",
		"{{json .}}", "{{", "{{template \"x\"}}", "{{define \"a\"}}{{template \"a\"}}{{end}}{{template \"a\"}}", "{{printf \"%s\" .Topic}}"} {
		f.Add(s, []byte("v\x1b[2J\x00"), "k")
	}
	f.Fuzz(func(t *testing.T, body string, value []byte, key string) {
		p, err := NewPrinter("template="+body, "kafka")
		if err != nil {
			usageLine(t, "-o template", body, err)
			return
		}
		if strings.Contains(body, "range") {
			return
		}
		w := bufio.NewWriter(io.Discard)
		m := &broker.Message{Key: []byte(key), Value: value, Headers: []broker.Header{{Key: "x", Value: value}}}
		_ = p.Begin(w)
		_ = p.Print(w, m) // an error is the user's template failing on this message
		_ = p.End(w)
	})
}
