// Package match selects messages by value, key and headers: the filters
// of `mqctl consume` and `mqctl dlq`.
package match

import (
	"bytes"
	"regexp"
	"strings"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// Filter selects the messages that are printed or handled; the others are
// still settled (unless the run only peeks).
type Filter struct {
	Value   *regexp.Regexp
	Key     *regexp.Regexp
	Headers []HeaderMatch
}

// HeaderMatch is one --header name=value; without "=" the header only has
// to be present.
type HeaderMatch struct {
	Name     string
	Value    []byte
	AnyValue bool
}

// New compiles --grep, --key-grep and --header flags.
func New(grep, keyGrep string, headers []string) (*Filter, error) {
	f := &Filter{}
	var err error
	if grep != "" {
		if f.Value, err = regexp.Compile(grep); err != nil {
			return nil, mqerr.Usagef("--grep: %v", err)
		}
	}
	if keyGrep != "" {
		if f.Key, err = regexp.Compile(keyGrep); err != nil {
			return nil, mqerr.Usagef("--key-grep: %v", err)
		}
	}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, "=")
		if name == "" {
			return nil, mqerr.Usagef("--header %q: want name=value or name", h)
		}
		f.Headers = append(f.Headers, HeaderMatch{Name: name, Value: []byte(value), AnyValue: !ok})
	}
	return f, nil
}

// Empty reports whether the filter lets everything through.
func (f *Filter) Empty() bool {
	return f == nil || f.Value == nil && f.Key == nil && len(f.Headers) == 0
}

// Match reports whether m passes every condition.
func (f *Filter) Match(m *broker.Message) bool {
	if f.Empty() {
		return true
	}
	if f.Value != nil && !f.Value.Match(m.Value) {
		return false
	}
	if f.Key != nil && !f.Key.Match(m.Key) {
		return false
	}
	for _, hm := range f.Headers {
		if !hasHeader(m, hm) {
			return false
		}
	}
	return true
}

func hasHeader(m *broker.Message, hm HeaderMatch) bool {
	for _, h := range m.Headers {
		if h.Key == hm.Name && (hm.AnyValue || bytes.Equal(h.Value, hm.Value)) {
			return true
		}
	}
	return false
}
