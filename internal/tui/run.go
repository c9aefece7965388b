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
// the user's screen. After a panic the file is kept and the error says
// where it is, in one line; otherwise what reached it (a library's
// warning) is copied to the real stderr, now that the screen is back, and
// the file is removed.
func Run(p *tea.Program) (tea.Model, error) {
	f, err := os.CreateTemp("", "mqctl-top-*.log")
	if err != nil {
		return p.Run()
	}
	stderr := os.Stderr
	os.Stderr = f
	m, err := p.Run()
	os.Stderr = stderr
	if errors.Is(err, tea.ErrProgramPanic) {
		f.Close()
		return m, fmt.Errorf("internal error: %s; the terminal was restored, the stack is in %s", panicValue(f.Name()), f.Name())
	}
	if _, serr := f.Seek(0, io.SeekStart); serr == nil {
		io.Copy(stderr, f)
	}
	f.Close()
	os.Remove(f.Name())
	return m, err
}

// panicValue is the first line of what Bubble Tea wrote after "Caught
// panic:", or "panic" when there is none.
func panicValue(path string) string {
	b, _ := os.ReadFile(path)
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
