package output

import (
	"io"
	"strings"
	"unicode/utf8"
)

// TerminalSafe returns s with everything that could act on a terminal
// written out as a visible escape: C0 controls (\n, \r, \t, \x1b, ...),
// DEL, C1 controls (\u009b, ...), bidi overrides and isolates
// (\u202a-\u202e, \u2066-\u2069, and the marks \u200e, \u200f, \u061c) and
// invalid UTF-8 bytes (\xff). An escape sequence from data (CSI and its
// colours, OSC 52 or OSC 8, DCS) thus shows as text and does nothing:
// mqctl adds its own colours after this, never by passing data's through.
func TerminalSafe(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			hexByte(&b, `\x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			hexByte(&b, `\x`, byte(r))
		case r >= 0x80 && r < 0xa0:
			hexByte(&b, `\u00`, byte(r))
		case isBidi(r) || isInvisible(r):
			if r > 0xffff {
				b.WriteString(`\U`)
				hexByte(&b, "", byte(r>>24))
				hexByte(&b, "", byte(r>>16))
			} else {
				b.WriteString(`\u`)
			}
			hexByte(&b, "", byte(r>>8))
			hexByte(&b, "", byte(r))
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return true
		} else if c >= 0x80 {
			for _, r := range s[i:] {
				if r == utf8.RuneError || r < 0x20 || unsafeRune(r) {
					return true
				}
			}
			return false
		}
	}
	return false
}

// isBidi reports the Unicode controls that reorder how text is shown
// (Trojan Source): embeddings, overrides, isolates and the marks.
func isBidi(r rune) bool {
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 ||
		r == 0x200e || r == 0x200f || r == 0x061c
}

// isInvisible reports characters that show as nothing, so "orders\u200b.dlq"
// would pass for "orders.dlq": zero-width space, word joiner and the
// invisible operators, the BOM, the Mongolian vowel separator, the soft
// hyphen, the combining grapheme joiner, the Hangul fillers (blank, and as
// wide as a letter) and the tag characters (which can hide whole words).
// The zero-width joiner and non-joiner and the variation selectors are left
// alone: emoji and several scripts need them.
func isInvisible(r rune) bool {
	return r == 0x200b || r >= 0x2060 && r <= 0x2064 || r == 0xfeff || r == 0x180e || r == 0xad ||
		r == 0x034f || r == 0x115f || r == 0x1160 || r == 0x3164 || r == 0xffa0 ||
		r >= 0xe0000 && r <= 0xe007f
}

// unsafeRune reports a rune above C0 that TerminalSafe escapes: DEL, C1
// controls, bidi controls and invisible characters.
func unsafeRune(r rune) bool {
	return r == 0x7f || r >= 0x80 && r < 0xa0 || isBidi(r) || isInvisible(r)
}

func hexByte(b *strings.Builder, prefix string, c byte) {
	b.WriteString(prefix)
	b.WriteByte("0123456789abcdef"[c>>4])
	b.WriteByte("0123456789abcdef"[c&0xf])
}

// TSVCell escapes a cell for a tab-separated line: \ as \\, tab as \t,
// newline as \n and carriage return as \r, so one row stays one line and
// one cell one field; and, as TerminalSafe does, everything else that
// could act on a terminal (a pipe often ends in one: `mqctl ls | head`).
// printf '%b' undoes every escape.
func TSVCell(s string) string {
	if strings.Contains(s, `\`) {
		s = strings.ReplaceAll(s, `\`, `\\`)
	}
	return TerminalSafe(s)
}

// TerminalText is TerminalSafe for text shown as it is, line by line
// (consume -o raw and templates on a terminal, as less shows a file):
// newlines and tabs stay, everything else that could act on the terminal
// is escaped.
func TerminalText(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexAny(s, "\n\t")
		if i < 0 {
			b.WriteString(TerminalSafe(s))
			return b.String()
		}
		b.WriteString(TerminalSafe(s[:i]))
		b.WriteByte(s[i])
		s = s[i+1:]
	}
}

// EscapeJSONControls writes the C1 controls, DEL, bidi controls and
// invisible characters in a JSON text as \u escapes (a surrogate pair above
// U+FFFF): the same JSON to any reader, inert and visible on a terminal.
func EscapeJSONControls(b []byte) []byte { return escapeUnsafeRunes(b, false) }

// ErrLine writes one diagnostic line, "mqctl: " + prefix + msg, to w
// (stderr). msg is made safe first (TerminalSafe): errors and warnings
// quote names, hosts, patterns and broker texts, which come from data, and
// one line must stay one line that cannot act on the terminal. Every
// "mqctl: ..." line on stderr goes through here.
func ErrLine(w io.Writer, prefix, msg string) {
	_, _ = io.WriteString(w, "mqctl: "+prefix+TerminalSafe(msg)+"\n")
}

// TextOut is where text that quotes data line by line (Prometheus
// exposition, for one) goes: s.Out itself in a pipe, exact bytes; on a
// terminal a writer that shows each line through TerminalText. Write
// whole lines to it.
func TextOut(s *Streams) io.Writer {
	if !s.OutTTY {
		return s.Out
	}
	return terminalText{s.Out}
}

type terminalText struct{ w io.Writer }

func (t terminalText) Write(p []byte) (int, error) {
	if _, err := io.WriteString(t.w, TerminalText(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
