package produce

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

// SendOptions are what a `mqctl produce` run adds around Run: the
// --failed-out file, a progress line and the summary.
type SendOptions struct {
	Options
	// FailedOutPath is --failed-out: created at the first failure, so a
	// run that fails before sending (or sends everything) leaves no empty
	// file behind; one left by an earlier run is emptied at the start, so
	// the file never shows old failures. Options.FailedOut is set from it.
	FailedOutPath string
	// Err receives the progress line (when Progress) and the summary.
	Err      io.Writer
	Progress bool
}

// Send runs Run with o's extras and prints the summary on o.Err; it
// closes p.
func Send(ctx context.Context, p broker.Producer, src Reader, o SendOptions) error {
	var fo *FailedOut
	if o.FailedOutPath != "" {
		fo = NewFailedOut(o.FailedOutPath)
		if err := fo.Reset(); err != nil {
			p.Close()
			return err
		}
		defer fo.Close()
		o.FailedOut = fo
	}
	st := &Stats{}
	start := time.Now()
	stopProgress := output.StartProgress(o.Err, o.Progress, output.ProgressInterval, func(el time.Duration) string {
		return fmt.Sprintf("sent %d  confirmed %d  failed %d  %.0f msgs/s",
			st.Sent.Load(), st.Confirmed.Load(), st.Failed.Load(), float64(st.Confirmed.Load())/el.Seconds())
	})
	runErr := Run(ctx, p, src, st, o.Options)
	if fo != nil {
		if err := fo.Close(); err != nil && runErr == nil {
			runErr = fmt.Errorf("--failed-out: %w", err)
		}
	}
	stopProgress()
	fmt.Fprintf(o.Err, "mqctl: %s\n", st.Summary(time.Since(start)))
	if runErr != nil && mqerr.Is(runErr, mqerr.Partial) && o.FailedOutPath != "" {
		runErr = fmt.Errorf("%w; failed messages are in %s", runErr, o.FailedOutPath)
	}
	return runErr
}
