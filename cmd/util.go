package cmd

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/nagios"
	"github.com/mqctl/mqctl/internal/output"
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

// startProgress prints a refreshing progress line on a terminal's stderr.
func startProgress(f *Factory, on bool, line func(elapsed time.Duration) string) (stop func()) {
	return output.StartProgress(f.IO.Err, on && f.IO.ErrTTY, output.ProgressInterval, line)
}

// tuneGC trades a little heap for CPU: produce and consume keep a bounded
// window in flight, so their live heap is small and steady, and collecting less often
// leaves CPU to the client library (and, on one machine, to the broker).
// The memory limit keeps the peak bounded. GOGC and GOMEMLIMIT still win.
func tuneGC(f *Factory) {
	if f.Getenv("GOGC") == "" {
		debug.SetGCPercent(300)
	}
	if f.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(40 << 20)
	}
}

// nonEmptyFlag marks a flag whose empty value would quietly read as "not
// given": -c "$CTX" with CTX unset picking the current context, dlq purge
// --export "$OUT" purging without an export, consume --exec "$HANDLER"
// acking every message unhandled.
const nonEmptyFlag = "mqctl-non-empty"

// nonEmpty marks the named flags of fs as refused when given empty.
func nonEmpty(fs *pflag.FlagSet, names ...string) {
	for _, n := range names {
		if err := fs.SetAnnotation(n, nonEmptyFlag, []string{"true"}); err != nil {
			panic(err) // a flag renamed without updating its mark
		}
	}
}

// checkNonEmpty refuses a marked flag given with an empty or blank value.
func checkNonEmpty(cmd *cobra.Command) error {
	var err error
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		if _, marked := fl.Annotations[nonEmptyFlag]; marked && err == nil && strings.TrimSpace(fl.Value.String()) == "" {
			err = mqerr.Usagef("--%s was given an empty value (an unset shell variable?): leave the flag out or give it a value", fl.Name)
		}
	})
	return err
}
