// Package tracecontext reads and writes W3C Trace Context headers
// (https://www.w3.org/TR/trace-context/): traceparent and tracestate, as
// messages carry them between producers, brokers and handlers.
package tracecontext

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/mqctl/mqctl/internal/broker"
)

// Header names, lower case as W3C writes them; matched without case.
const (
	Parent = "traceparent"
	State  = "tracestate"
)

// Valid reports whether s is a traceparent a receiver may use: version,
// trace id, parent id and flags in lower-case hex, ids not all zeros,
// version not ff; version 00 is exactly 55 characters, a later version
// may append "-..." fields.
func Valid(s string) bool {
	if len(s) < 55 || (len(s) > 55 && s[55] != '-') {
		return false
	}
	if s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return false
	}
	version, trace, parent, flags := s[0:2], s[3:35], s[36:52], s[53:55]
	switch {
	case !hex(version) || version == "ff" || (version == "00" && len(s) != 55):
		return false
	case !hex(trace) || allZero(trace), !hex(parent) || allZero(parent), !hex(flags):
		return false
	}
	return true
}

func hex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func allZero(s string) bool { return strings.Trim(s, "0") == "" }

// New is a fresh traceparent: version 00, random trace and parent ids,
// flags 01 (sampled).
func New() string {
	var hi, lo, span uint64
	for hi == 0 && lo == 0 {
		hi, lo = rand.Uint64(), rand.Uint64()
	}
	for span == 0 {
		span = rand.Uint64()
	}
	return fmt.Sprintf("00-%016x%016x-%016x-01", hi, lo, span)
}

// FromHeaders returns the message's trace context: its traceparent when
// there is exactly one and it is valid, and then its tracestate (several
// tracestate headers joined with commas, as HTTP combines them). Without
// a valid traceparent both are "": W3C says a tracestate alone means
// nothing.
func FromHeaders(hs []broker.Header) (traceparent, tracestate string) {
	var states []string
	n := 0
	for _, h := range hs {
		switch {
		case strings.EqualFold(h.Key, Parent):
			n++
			traceparent = strings.TrimSpace(string(h.Value))
		case strings.EqualFold(h.Key, State):
			if v := strings.TrimSpace(string(h.Value)); v != "" {
				states = append(states, v)
			}
		}
	}
	if n != 1 || !Valid(traceparent) {
		return "", ""
	}
	return traceparent, strings.Join(states, ",")
}

// TraceID is the trace id of hs's traceparent (32 hex digits), "" when
// FromHeaders finds none: what tracing tools search by.
func TraceID(hs []broker.Header) string {
	parent, _ := FromHeaders(hs)
	if parent == "" {
		return ""
	}
	return parent[3:35]
}

// Has reports whether hs has a traceparent header, valid or not.
func Has(hs []broker.Header) bool {
	for _, h := range hs {
		if strings.EqualFold(h.Key, Parent) {
			return true
		}
	}
	return false
}
