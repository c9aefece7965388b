// Package tui is `mqctl top`: a read-only live dashboard over every
// context. All broker I/O goes through Source, inside tea.Cmds.
package tui

import (
	"context"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/lag"
)

// Snapshot is what one context held at one refresh.
type Snapshot struct {
	Broker       string
	Destinations []broker.Destination
	Lag          []lag.Row
	DeadLetters  []broker.DeadLetterDestination
}

// Source reads one context at a time, so a slow or dead broker delays only
// its own rows. Implementations must not move, ack or mark messages beyond
// what a `dlq peek` does.
type Source interface {
	// Contexts names the contexts, in display order; i below indexes it.
	Contexts() []string
	// Read refreshes context i. A partial read returns what it got and
	// the error.
	Read(ctx context.Context, i int) (Snapshot, error)
	// Peek reads up to n messages of dest without side effects (as
	// `dlq peek`: RabbitMQ returns them marked redelivered).
	Peek(ctx context.Context, i int, dest string, n int) ([]broker.Message, error)
}
