package consume

import (
	"strings"
	"testing"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/envelope"
)

// hostileValues would act on a terminal if written raw.
var hostileValues = []string{
	"\x1b[2Jcleared", "\x1b[8mconcealed", "\x1b[30;40mdark", "\x1b]52;c;cm0gLXJmIC8K\x07",
	"\x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\", "\x1bP1$qm\x1b\\", "c1 \u009b2J", "\u009d0;t\u009c",
	"abc\u202edcba", "\u2066iso\u2069\u202a\u202b\u202c\u202d", "tab\tnew\nline\rcr", "bad \xff\xfe",
	strings.Repeat("\x1b[31m", 10000),
}

func rawOnTerminal(s string) bool {
	for _, r := range s {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || r >= 0x80 && r < 0xa0 ||
			r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
			return true
		}
	}
	return false
}

func TestForTerminalEscapesEveryPrinter(t *testing.T) {
	var msgs []*broker.Message
	for _, v := range hostileValues {
		m := kafkaMsg(v, v, 1)
		m.Headers = append(m.Headers, broker.Header{Key: v, Value: []byte(v)})
		msgs = append(msgs, m)
	}
	for _, format := range []string{"raw", "jsonl", "json", `template={{.Key}} {{.Value}} {{.Header "h"}} {{range .Headers}}{{.Key}}{{end}}`} {
		p, err := NewPrinter(format, "kafka")
		if err != nil {
			t.Fatal(err)
		}
		plain := printAll(t, p, msgs...)
		p, _ = NewPrinter(format, "kafka")
		got := printAll(t, ForTerminal(p), msgs...)
		if rawOnTerminal(got) {
			t.Errorf("%s: a control reached the terminal raw: %q", format, got)
		}
		json := format == "jsonl" || format == "json"
		if json && (plain != got || rawOnTerminal(plain)) {
			// A dump that is cat'ed later reaches a terminal too.
			t.Errorf("%s: a pipe must get the same escaped JSON as a terminal, got %q", format, plain)
		}
		if !json && !rawOnTerminal(plain) {
			t.Errorf("%s: a pipe must get the bytes unchanged, got %q", format, plain)
		}
		if format == "jsonl" {
			// Still the same envelopes, byte for byte.
			for i, line := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
				m, err := envelope.Decode([]byte(line))
				if err != nil || string(m.Value) != hostileValues[i] {
					t.Errorf("jsonl line %d: %q %v", i, m.Value, err)
				}
			}
		}
	}
	raw, _ := NewPrinter("raw", "kafka")
	if got, want := printAll(t, ForTerminal(raw), kafkaMsg("", "a\tb\nc\x1b[2J\u202e\xff", 1)), "a\tb\nc\\x1b[2J\\u202e\\xff\n"; got != want {
		t.Errorf("raw on a terminal = %q, want %q", got, want)
	}
}
