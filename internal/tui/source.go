// Package tui is `mqctl top`: a live dashboard over every context, with
// dead-letter replay and purge and consumer offset resets behind
// confirmations. All broker I/O goes
// through Source, inside tea.Cmds.
package tui

import (
	"context"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/dlq"
	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/offsets"
)

// Snapshot is what one context held at one refresh.
type Snapshot struct {
	Broker       string
	Destinations []broker.Destination
	Lag          []lag.Row
	// TimeLag says the read asked for the Lag rows' time lags (as `mqctl
	// lag --time-lag` does), where a zero is unknown; without it a row's
	// time lag is carried from the last read that asked (see derive).
	TimeLag     bool
	DeadLetters []DeadLetterRow
}

// DeadLetterRow is a dead-letter destination and what a bounded sample of
// it says, counted as `mqctl dlq stats` counts them.
type DeadLetterRow struct {
	broker.DeadLetterDestination
	// TopReason and Origin are the most frequent reason and original
	// destination among the Sampled dead letters read from its start;
	// empty when none were read.
	TopReason, Origin string
	Sampled           int
	// NotRead says it holds dead letters that were not read, as reading
	// them would mark them redelivered (RabbitMQ).
	NotRead bool
}

// Source reads one context at a time, so a slow or dead broker delays only
// its own rows. Read and Peek must not move, ack or mark messages beyond
// what a `dlq peek` does; only the Actions change anything.
type Source interface {
	// Contexts names the contexts, in display order; i below indexes it.
	Contexts() []string
	// Read refreshes context i. A partial read returns what it got and
	// the error.
	Read(ctx context.Context, i int) (Snapshot, error)
	// Peek reads up to n messages of dest without side effects (as
	// `dlq peek`: RabbitMQ returns them marked redelivered).
	Peek(ctx context.Context, i int, dest string, n int) ([]broker.Message, error)
	Actions
}

// Actions change a broker through the code `mqctl dlq replay`, `mqctl dlq
// purge` and `mqctl offsets reset` run: nothing is settled before its
// copy was confirmed. Each refuses a read-only context itself, whatever
// the UI did.
type Actions interface {
	// ReadOnly says whether context i refuses actions.
	ReadOnly(i int) bool
	// PlanReplay is a replay's dry run.
	PlanReplay(ctx context.Context, i int, dest string) (Plan, error)
	// Replay replays at most limit dead letters of dest, counting in st
	// as it goes; cancelling ctx stops reading and awaits what is in
	// flight.
	Replay(ctx context.Context, i int, dest string, limit int64, st *dlq.MoveStats) error
	// Purge deletes everything dest holds now and says how much.
	Purge(ctx context.Context, i int, dest string) (int64, error)
	// PlanReset is `mqctl offsets reset` without --execute: where req
	// would move the group's positions; it changes nothing.
	PlanReset(ctx context.Context, i int, req offsets.Request) (offsets.Plan, error)
	// ApplyReset stores p as --execute does (offsets.Apply): refused
	// while the group has live members, by the plan and by the broker.
	ApplyReset(ctx context.Context, i int, p *offsets.Plan) error
}

// Plan is what a replay would do, from its dry run.
type Plan struct {
	Read, Replay, Left int64
	// To counts the dead letters to replay by where they go back to.
	To map[string]int64
	// Marked says the dry run left what it read marked redelivered.
	Marked bool
	// Settle says what becomes of a replayed dead letter in its source.
	Settle string
}
