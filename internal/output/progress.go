package output

import (
	"fmt"
	"io"
	"time"
)

// ProgressInterval is how often StartProgress redraws its line.
const ProgressInterval = 200 * time.Millisecond

// StartProgress redraws line(elapsed) in place on w every interval until
// stop is called; stop clears the line and returns once nothing more will be
// written. When on is false (no --progress, or w is not a terminal) it does
// nothing. line is called from another goroutine.
func StartProgress(w io.Writer, on bool, interval time.Duration, line func(elapsed time.Duration) string) (stop func()) {
	if !on {
		return func() {}
	}
	start := time.Now()
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-quit:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				fmt.Fprintf(w, "\r\033[K%s", line(time.Since(start)))
			}
		}
	}()
	return func() { close(quit); <-done }
}
