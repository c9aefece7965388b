package broker

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/mqctl/mqctl/internal/mqerr"
)

// Secrets are kept out of what mqctl prints in two ways.
//
// By structure, whatever the secret: the user info of every URL (as is, or
// percent-encoded inside another URL), the value of every credential
// parameter (password=, token=, api_key=… in a query or key=value text,
// "password": in JSON) and of every Authorization header is masked. That is
// where mqctl, its libraries and the brokers put a secret.
//
// By value, as a backstop for a text that embeds a secret some other way:
// a secret's text (as is, URL-escaped, base64) is replaced wherever it
// stands, but only where that text is distinctive (see distinctive). A
// password that is a plain word ("guest", "admin") also stands in names
// mqctl prints (a context "rmq-guest", a user, a queue, a host): masked
// there, the name is garbled and the mask tells the reader the password.

// mask is what a secret is replaced with.
const mask = "xxxxx"

// Scrub returns err with every secret replaced in its message (see
// ScrubString), keeping its kind. It is the last line of defence: drivers
// should not leak secrets in the first place.
func Scrub(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := ScrubString(msg, secrets...)
	if clean == msg {
		return err
	}
	return mqerr.Wrap(mqerr.KindOf(err), fmt.Errorf("%s", clean))
}

// ScrubString masks every URL password, token and credential parameter in
// s by structure, and replaces each distinctive form of each secret (as
// is, URL-escaped, base64).
func ScrubString(s string, secrets ...string) string {
	for _, sec := range secrets {
		for _, form := range secretForms(sec) {
			if distinctive(form) {
				s = strings.ReplaceAll(s, form, mask)
			}
		}
	}
	return redactStructure(s)
}

// secretForms are the texts sec travels in: as is, URL-escaped (query and
// path), and base64 (standard and URL alphabets; the unpadded forms are
// prefixes of the padded ones, so they go last).
func secretForms(sec string) []string {
	b := []byte(sec)
	return []string{
		sec, url.QueryEscape(sec), url.PathEscape(sec),
		base64.StdEncoding.EncodeToString(b), base64.URLEncoding.EncodeToString(b),
		base64.RawStdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
	}
}

// distinctive reports whether text would stand in what mqctl prints only
// as itself, never as part of a name or a word: 24 characters or more, or
// 8 or more that either hold a character other than letters, digits, '.',
// '_' and '-' (what names are made of) or mix upper case, lower case and
// digits. "guest", "rabbitmq-staging" and "secret123" are not; a random
// password or token, or base64 of most passwords, is.
func distinctive(text string) bool {
	n := utf8.RuneCountInString(text)
	if n >= 24 {
		return true
	}
	if n < 8 {
		return false
	}
	var upper, lower, digit bool
	for _, r := range text {
		switch {
		case r >= 'a' && r <= 'z':
			lower = true
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= '0' && r <= '9':
			digit = true
		case r == '.' || r == '_' || r == '-':
		default:
			return true
		}
	}
	return upper && lower && digit
}

// credentialKey is a key that names a credential, for the parameter, JSON
// and YAML rules alike: anything ending in password, passwd, token, secret
// or api_key (mq_token, x-api-key), and pass alone or after a word and "_"
// or "-" (db_pass). Not "bypass", "tokens", "passed", and not "pwd": PWD=
// is a working directory in a handler's environment.
const credentialKey = `(?:[a-z_-]*(?:password|passwd|token|secret|api[_-]?key)|(?:[a-z]+[_-])?pass)`

// quotedValue is a value in double quotes (backslash escapes) or single
// quotes; it is masked inside its quotes.
const quotedValue = `"(?:[^"\\]|\\.)*"|'[^']*'`

var (
	// credentialParam is key=value (or key%3Dvalue, encoded in a query);
	// $1 is what stays. An unquoted value runs to a space or a quote, so
	// a secret holding "#" or "&" is masked whole (free text does not
	// escape them); redactCredentialParams ends it early only at an "&"
	// that starts another parameter (&name=), as in a query. A quote that
	// is never closed starts an unquoted value.
	credentialParam = regexp.MustCompile(`(?i)((?:^|[^a-z0-9_])` + credentialKey + `(?:=|%3d))(` + quotedValue + `|["']?[^\s"']+)`)
	// nextParam is where a query's next parameter starts in a value.
	nextParam = regexp.MustCompile(`(?i)&[^&=\s"']*(?:=|%3d)`)
	// credentialJSON is "key": "value" where the key names a credential.
	credentialJSON = regexp.MustCompile(`(?i)("` + credentialKey + `"\s*:\s*")(?:[^"\\]|\\.)+"`)
	// credentialYAMLLine is a YAML block mapping's "key: value" at the
	// start of a line: a plain value runs to the end of the line (it may
	// hold spaces), a quoted one to its closing quote.
	credentialYAMLLine = regexp.MustCompile(`(?im)(^[ \t]*(?:-[ \t]+)?` + credentialKey + `[ \t]*:[ \t]+)(` + quotedValue + `|[^\r\n]+)`)
	// credentialYAML is "key: value" anywhere else (a flow mapping, a
	// message quoting a config line): the value is one word or quoted.
	credentialYAML = regexp.MustCompile(`(?i)((?:^|[^a-z0-9_])` + credentialKey + `[ \t]*:[ \t]+)(` + quotedValue + `|[^\s]+)`)
	// authorization is an HTTP Authorization header's credentials.
	authorization = regexp.MustCompile(`(?i)(authorization:\s*(?:basic|bearer|token)\s+)[^\s"']+`)
)

// redactStructure masks what stands where a secret goes, whatever its
// value: URL user info (raw and percent-encoded), credential parameters
// (key=value, JSON, YAML) and Authorization headers.
func redactStructure(s string) string {
	s = redactEncodedURLs(redactAllURLs(s))
	s = redactCredentialParams(s)
	s = credentialJSON.ReplaceAllString(s, "${1}"+mask+`"`)
	s = maskValues(credentialYAMLLine, s)
	s = maskValues(credentialYAML, s)
	return authorization.ReplaceAllString(s, "${1}"+mask)
}

// redactCredentialParams masks the values of credential parameters, in a
// URL's query (nats://h?token=…) or in free text.
func redactCredentialParams(s string) string {
	var b strings.Builder
	for {
		m := credentialParam.FindStringSubmatchIndex(s)
		if m == nil {
			b.WriteString(s)
			return b.String()
		}
		v, end := s[m[4]:m[5]], m[5]
		if v[0] != '"' && v[0] != '\'' {
			if i := nextParam.FindStringIndex(v); i != nil {
				v, end = v[:i[0]], m[4]+i[0]
			}
		}
		b.WriteString(s[:m[4]])
		b.WriteString(maskedValue(v))
		s = s[end:]
	}
}

// maskValues masks group 2 of every match of re in s, keeping group 1.
func maskValues(re *regexp.Regexp, s string) string {
	var b strings.Builder
	done := 0
	for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
		b.WriteString(s[done:m[4]])
		b.WriteString(maskedValue(s[m[4]:m[5]]))
		done = m[5]
	}
	b.WriteString(s[done:])
	return b.String()
}

// maskedValue is what replaces the value v: the mask, inside v's quotes
// when v is quoted.
func maskedValue(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[:1] + mask + v[:1]
	}
	return mask
}

// redactAllURLs redacts every scheme://user:pass@ occurrence in free text.
func redactAllURLs(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + 3 + strings.IndexAny(s[i+3:]+" ", " \t\n\"'")
		b.WriteString(RedactURL(s[:end]))
		s = s[end:]
	}
}

// redactEncodedURLs masks the whole user info of every percent-encoded URL
// in s (amqp%3A%2F%2Fops%3Apw%40h, a URL carried in another one's query):
// everything between "%3A%2F%2F" and the last "%40" before the URL ends
// at a space, a quote or an "&".
func redactEncodedURLs(s string) string {
	const sep, at = "%3a%2f%2f", "%40"
	lower := asciiLower(s)
	var b strings.Builder
	done := 0
	for from := 0; ; {
		i := strings.Index(lower[from:], sep)
		if i < 0 {
			break
		}
		start := from + i + len(sep)
		end := start + len(s[start:])
		if e := strings.IndexAny(s[start:], " \t\n\"'&"); e >= 0 {
			end = start + e
		}
		if a := strings.LastIndex(s[start:end], at); a >= 0 {
			b.WriteString(s[done:start])
			b.WriteString(mask)
			done = start + a
		}
		from = end
	}
	b.WriteString(s[done:])
	return b.String()
}

// asciiLower lower-cases the ASCII letters of s and keeps every other
// byte, so that an index into it is one into s: strings.ToLower turns an
// invalid byte into a 3-byte U+FFFD, and an index past it cut s out of
// bounds (a panic FuzzScrubString found).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
