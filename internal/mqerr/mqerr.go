// Package mqerr holds mqctl's typed errors and the single mapping from an
// error to the process exit code documented in the README.
package mqerr

import (
	"context"
	"errors"
	"fmt"
)

// Kind classifies a failure by what the user should do about it.
type Kind int

const (
	// Failure is anything not classified below: exit 1.
	Failure Kind = iota
	// Usage is bad input: an unknown flag value, a malformed URL, a missing context.
	Usage
	// Unreachable means the broker could not be reached within the timeout.
	Unreachable
	// Auth means the broker refused the credentials or the permission.
	Auth
	// NotFound means a queue, topic, stream or group does not exist.
	NotFound
	// Partial means some messages were not confirmed or not replayed.
	Partial
	// Unsupported means the driver lacks the role the command needs.
	Unsupported
	// Interrupted means the user stopped the command (SIGINT).
	Interrupted
)

// Exit codes, documented in the README. --check modes use the Nagios codes
// instead and do not go through ExitCode.
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitUsage       = 2
	ExitPartial     = 3
	ExitAuth        = 4
	ExitNotFound    = 5
	ExitInterrupted = 130
)

// Error is an error with a Kind. Its message is the wrapped error's message:
// the kind changes the exit code, not the text.
type Error struct {
	Kind Kind
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Wrap gives err a kind; a nil err stays nil.
func Wrap(kind Kind, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: kind, Err: err}
}

// New formats a message and gives it a kind.
func New(kind Kind, format string, args ...any) error {
	return &Error{Kind: kind, Err: fmt.Errorf(format, args...)}
}

// Usagef is shorthand for New(Usage, ...), the most common kind at the edges.
func Usagef(format string, args ...any) error { return New(Usage, format, args...) }

// KindOf returns the kind of the outermost typed error in err's chain.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	if errors.Is(err, context.Canceled) {
		return Interrupted
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Unreachable
	}
	return Failure
}

// Is reports whether err is of kind k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }

// ExitCode maps an error to the process exit code. This is the one place
// where that mapping lives.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	switch KindOf(err) {
	case Usage, Unsupported:
		return ExitUsage
	case Auth:
		return ExitAuth
	case NotFound:
		return ExitNotFound
	case Partial:
		return ExitPartial
	case Interrupted:
		return ExitInterrupted
	default:
		return ExitFailure
	}
}
