// Package complete answers dynamic shell completions from the live
// broker: topic, queue, stream and group names. A shell waits for the
// answer, so every completion is bounded by Timeout and a broker that
// does not answer in time completes nothing.
package complete

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/output"
)

// Timeout bounds one completion, connecting included.
const Timeout = 1500 * time.Millisecond

// Names lists the names of kind on t's broker that start with prefix and
// are not in taken, sorted; nil when the broker cannot be asked within
// Timeout (or at all). A name that would act on a terminal (an escape
// sequence, a control character, a bidi override, invalid UTF-8) is left
// out: the shell prints candidates raw, and shown escaped it would name
// another destination.
func Names(ctx context.Context, t broker.Target, kind broker.NameKind, prefix string, taken []string) []string {
	if ctx == nil {
		ctx = context.Background()
	}
	if t.Timeout <= 0 || t.Timeout > Timeout {
		t.Timeout = Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	done := make(chan []string, 1)
	go func() { done <- list(ctx, t, kind) }()
	var names []string
	select {
	case names = <-done:
	case <-ctx.Done():
		// A driver that does not honour ctx must not hold the shell.
		return nil
	}
	return slices.DeleteFunc(names, func(n string) bool {
		return !strings.HasPrefix(n, prefix) || slices.Contains(taken, n) || output.TerminalSafe(n) != n
	})
}

func list(ctx context.Context, t broker.Target, kind broker.NameKind) []string {
	conn, err := broker.Open(ctx, t)
	if err != nil {
		return nil
	}
	defer conn.Close()
	l, ok := conn.(broker.NameLister)
	if !ok {
		return nil
	}
	names, err := l.ListNames(ctx, kind)
	if err != nil {
		return nil
	}
	return names
}
