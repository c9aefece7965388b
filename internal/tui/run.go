package tui

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	tea "charm.land/bubbletea/v2"
)

// Run runs p with the process's stderr sent to a file meanwhile: Bubble
// Tea restores the terminal after a panic in the model or a command, then
// writes the panic's stack to os.Stderr, which would leave a raw stack on
// the user's screen. The file is unlinked at once, so a top killed by a
// signal (a closed terminal's SIGHUP) leaves nothing behind. After a panic
// the stack is written to a named file and the error says where it is, in
// one line; otherwise what reached the file (a library's warning) is
// copied to the real stderr, now that the screen is back.
func Run(p *tea.Program) (tea.Model, error) {
	f, err := os.CreateTemp("", "mqctl-top-*.log")
	if err != nil {
		return p.Run()
	}
	os.Remove(f.Name())
	defer f.Close()
	stderr := os.Stderr
	os.Stderr = f
	m, err := p.Run()
	os.Stderr = stderr
	var caught []byte
	if _, serr := f.Seek(0, io.SeekStart); serr == nil {
		caught, _ = io.ReadAll(f)
	}
	if errors.Is(err, tea.ErrProgramPanic) {
		kept, kerr := os.CreateTemp("", "mqctl-top-*.log")
		if kerr != nil {
			return m, fmt.Errorf("internal error: %s; the terminal was restored, the stack could not be kept: %v", panicValue(caught), kerr)
		}
		kept.Write(caught)
		kept.Close()
		return m, fmt.Errorf("internal error: %s; the terminal was restored, the stack is in %s", panicValue(caught), kept.Name())
	}
	stderr.Write(caught)
	return m, err
}

// panicValue is the first line of what Bubble Tea wrote after "Caught
// panic:", or "panic" when there is none.
func panicValue(b []byte) string {
	_, after, ok := bytes.Cut(b, []byte("Caught panic:"))
	if !ok {
		return "panic"
	}
	for _, l := range bytes.Split(after, []byte("\n")) {
		if l = bytes.TrimSpace(l); len(l) > 0 {
			return "panic: " + string(l)
		}
	}
	return "panic"
}
