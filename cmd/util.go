package cmd

import (
	"context"
	"errors"
	"fmt"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/nagios"
)

// withTimeout bounds one request-response exchange with the target's timeout.
func withTimeout(ctx context.Context, t broker.Target) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, t.EffectiveTimeout())
}

// checkErr turns an error of a --check run into UNKNOWN: Nagios reads exit
// 2 as CRITICAL, so a check that could not run must not exit 2.
func checkErr(f *Factory, check bool, err error) error {
	var exit *exitError
	if err != nil && check && !errors.As(err, &exit) {
		fmt.Fprintf(f.IO.Out, "%s %s\n", nagios.Unknown, broker.ScrubString(err.Error(), f.secrets...))
		return &exitError{code: nagios.Unknown.Code()}
	}
	return err
}
