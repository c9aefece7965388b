package output

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

var plainWord = regexp.MustCompile(`^[A-Za-z0-9._:/=+@%-]+$`)

// ShellWord quotes s as one word for a shell when it needs it: as it is
// when plain, between single quotes when it holds only printable text
// without spaces, else as bash's $'...' with every space, control, bidi or
// invisible character and invalid byte escaped. The word is inert on a
// terminal, holds no whitespace a wrap could split, and names the same
// bytes when pasted into bash, zsh or ksh.
func ShellWord(s string) string {
	if plainWord.MatchString(s) {
		return s
	}
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) || unsafeRune(r) }) < 0 && utf8.ValidString(s) {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	var b strings.Builder
	b.WriteString("$'")
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\' || r == '\'':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x80 && (unicode.IsSpace(r) || !unicode.IsPrint(r)):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unicode.IsSpace(r) || !unicode.IsPrint(r) || unsafeRune(r):
			if r > 0xffff {
				fmt.Fprintf(&b, `\U%08x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
		i += n
	}
	b.WriteByte('\'')
	return b.String()
}
