package mqerr

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestExitCode(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errors.New("x"), 1},
		{Usagef("bad"), 2},
		{Wrap(Unsupported, errors.New("no purge")), 2},
		{Wrap(Partial, errors.New("3 failed")), 3},
		{Wrap(Auth, errors.New("denied")), 4},
		{Wrap(NotFound, errors.New("no queue")), 5},
		{Wrap(Unreachable, errors.New("refused")), 1},
		{fmt.Errorf("ls: %w", Wrap(NotFound, errors.New("no topic"))), 5},
		{context.Canceled, 130},
		{Wrap(Interrupted, errors.New("stop")), 130},
		{fmt.Errorf("dial: %w", context.DeadlineExceeded), 1},
	}
	for _, tc := range cases {
		if got := ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
	if Wrap(Auth, nil) != nil {
		t.Error("Wrap(nil) is not nil")
	}
}
