package output

import (
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The line is drawn in place and cleared by stop; no wall-clock bound: the
// test waits until line has been called, then stops.
func TestStartProgressDrawsAndClears(t *testing.T) {
	var w lockedBuf
	called := make(chan struct{}, 1)
	stop := StartProgress(&w, true, time.Millisecond, func(time.Duration) string {
		select {
		case called <- struct{}{}:
		default:
		}
		return "sent 1"
	})
	<-called
	stop()
	got := w.String()
	if !strings.HasPrefix(got, "\r\033[K") || !strings.HasSuffix(got, "\r\033[K") {
		t.Fatalf("progress output %q: want redraws ending with a cleared line", got)
	}
}

func TestStartProgressOffWritesNothing(t *testing.T) {
	var w lockedBuf
	StartProgress(&w, false, time.Millisecond, func(time.Duration) string { return "x" })()
	if w.String() != "" {
		t.Fatalf("off: wrote %q", w.String())
	}
}
