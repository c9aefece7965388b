package produce

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// CheckFailedOut refuses a --failed-out that is the input being read
// (--file, or stdin redirected from it): writing it would empty the input
// before a single message was sent. It also refuses, before anything is
// sent, a file that could not be written: the failures would be lost.
func CheckFailedOut(failedOut, file string, in io.Reader) error {
	out, err := os.Stat(failedOut)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		dir := filepath.Dir(failedOut)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return mqerr.Usagef("--failed-out %s: directory %s does not exist", failedOut, dir)
		}
		// A file created and removed at once: the only portable way to
		// know that the failures could be written there.
		probe, err := os.CreateTemp(dir, ".mqctl-failed-out-*")
		if err != nil {
			return mqerr.Usagef("--failed-out %s: cannot create a file in %s: %v", failedOut, dir, err)
		}
		probe.Close()
		os.Remove(probe.Name())
		return nil
	case err != nil:
		return mqerr.Usagef("--failed-out: %v", err)
	case out.IsDir():
		return mqerr.Usagef("--failed-out %s is a directory", failedOut)
	}
	fh, err := os.OpenFile(failedOut, os.O_WRONLY, 0)
	if err != nil {
		return mqerr.Usagef("--failed-out: %v", err)
	}
	fh.Close()
	if file != "" {
		if in, err := os.Stat(file); err == nil && os.SameFile(in, out) {
			return mqerr.Usagef("--failed-out %s is the --file being read: write the failures to another file", failedOut)
		}
	} else if stdin, ok := in.(*os.File); ok {
		if in, err := stdin.Stat(); err == nil && os.SameFile(in, out) {
			return mqerr.Usagef("--failed-out %s is the standard input being read: write the failures to another file", failedOut)
		}
	}
	return nil
}

// FailedOut is --failed-out: created (0600: it holds message payloads)
// at the first write.
type FailedOut struct {
	path string
	f    *os.File
}

// Reset empties the file when it exists already, so that it holds this
// run's failures only; a missing file is left to the first write.
func (w *FailedOut) Reset() error {
	fh, err := os.OpenFile(w.path, os.O_WRONLY|os.O_TRUNC, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return mqerr.Usagef("--failed-out: %v", err)
	}
	w.f = fh
	return nil
}

func (w *FailedOut) Write(b []byte) (int, error) {
	if w.f == nil {
		fh, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return 0, err
		}
		w.f = fh
	}
	return w.f.Write(b)
}

// Close closes the file if it was opened; it may be called twice.
func (w *FailedOut) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	if errors.Is(err, os.ErrClosed) {
		return nil
	}
	return err
}

// NewFailedOut returns the --failed-out file at path; nothing is created
// before Reset or the first Write.
func NewFailedOut(path string) *FailedOut { return &FailedOut{path: path} }

// CheckDecoration asks the producer whether what the flags add to every
// message (properties, headers, a partition) would be refused, so a bad
// flag fails the run before anything is read or sent.
func CheckDecoration(p broker.Producer, deco Decoration) error {
	checker, ok := p.(broker.MessageChecker)
	if !ok {
		return nil
	}
	rec := &Record{N: 1, Msg: &broker.Message{Kafka: broker.KafkaMeta{Partition: -1}}}
	if err := deco.Prepare()(rec); err != nil {
		return nil // a template error names the message it happens on
	}
	if rec.Msg.Kafka.Partition < 0 && deco.UseInputPartition {
		return nil // each message names its partition
	}
	if err := checker.CheckMessage(rec.Msg); err != nil {
		return mqerr.Wrap(mqerr.Usage, fmt.Errorf("every message would be refused, nothing was sent: %w", err))
	}
	return nil
}
