package cmd

import (
	"context"

	"github.com/mqctl/mqctl/internal/broker"
)

// withTimeout bounds one request-response exchange with the target's timeout.
func withTimeout(ctx context.Context, t broker.Target) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, t.EffectiveTimeout())
}
