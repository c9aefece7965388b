package broker

import (
	"context"
	"errors"
	"strings"
)

// reasoned is an error with a short name for its cause.
type reasoned struct {
	reason string
	err    error
}

func (e *reasoned) Error() string { return e.err.Error() }
func (e *reasoned) Unwrap() error { return e.err }

// WithReason gives err a short, stable name for its cause, such as
// "NO_ROUTE (312)" or "MESSAGE_TOO_LARGE": the name under which a summary
// counts the messages that failed for it. The error's text, kind and chain
// stay as they are. A nil err stays nil.
func WithReason(reason string, err error) error {
	if err == nil {
		return nil
	}
	return &reasoned{reason: reason, err: err}
}

// maxReason bounds a reason taken from an error's text.
const maxReason = 100

// ReasonOf returns the name given to err by WithReason (the outermost
// one), or else the first line of its text, cut to maxReason bytes at a
// rune boundary.
func ReasonOf(err error) string {
	var r *reasoned
	switch {
	case err == nil:
		return ""
	case errors.As(err, &r):
		return r.reason
	case errors.Is(err, context.Canceled):
		return "interrupted"
	}
	s, _, _ := strings.Cut(err.Error(), "\n")
	if len(s) <= maxReason {
		return s
	}
	cut := maxReason
	for cut > 0 && s[cut]&0xc0 == 0x80 {
		cut--
	}
	return s[:cut] + "..."
}

// MessageChecker is implemented by producers that can tell before
// publishing that the broker or the driver would refuse a message (a
// property the broker rejects, a header it cannot carry, a partition the
// topic lacks). A command checks what its flags add to every message
// with it, so a bad flag stops the run before anything is read or sent.
type MessageChecker interface {
	CheckMessage(m *Message) error
}
