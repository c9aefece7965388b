package produce

import (
	"strings"
	"testing"

	"github.com/mqctl/mqctl/internal/mqerr"
)

func usageLine(t *testing.T, what, in string, err error) {
	t.Helper()
	if mqerr.KindOf(err) != mqerr.Usage || strings.Contains(err.Error(), "\n") {
		t.Fatalf("%s %q: error %q (kind %v): want one usage line", what, in, err, mqerr.KindOf(err))
	}
}

func FuzzParseHeader(f *testing.F) {
	for _, s := range []string{"a=b", "a=", "=b", "a", "", "a=b=c", "x-retry=3", "k\x00=\xff\x1b[2J", "é=ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHeader(s)
		if err != nil {
			usageLine(t, "-H", s, err)
			return
		}
		// Nothing is lost or changed: the name, "=" and the value are
		// the input, bytes included.
		if h.Key == "" || h.Key+"="+string(h.Value) != s || strings.Contains(h.Key, "=") {
			t.Fatalf("-H %q parsed as %q=%q", s, h.Key, h.Value)
		}
	})
}

func FuzzParseDelimiter(f *testing.F) {
	for _, s := range []string{`\n`, `\t`, `\0`, `\r`, ",", `\x1e`, `\u00e9`, `\`, "", "ab", `\377`, "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseDelimiter(s)
		if err != nil {
			usageLine(t, "--delimiter", s, err)
			return
		}
		if len(s) == 1 && b != s[0] {
			t.Fatalf("--delimiter %q parsed as %q", s, b)
		}
	})
}

func FuzzParseMsgIDTemplate(f *testing.F) {
	for _, s := range []string{"{{.N}}", "{{sha256 .Value}}", "{{.Key}}-{{.N}}", "{{", "{{.Nope}}", "plain", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := ParseMsgIDTemplate(s); err != nil {
			usageLine(t, "--msg-id", s, err)
		}
	})
}
