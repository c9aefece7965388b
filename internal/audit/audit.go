// Package audit appends one JSON line per step of every action that
// changes a broker (attempted, refused, confirmed, cancelled, finished,
// failed) to a file only its owner can read: who did what, when, where,
// with which counts and result. mqctl top writes it; the dlq commands can
// write the same records.
package audit

import (
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/mqctl/mqctl/internal/output"
)

// Events of an action, in the order they happen.
const (
	Attempted = "attempted" // the user asked for it (key pressed)
	Refused   = "refused"   // read-only, or nothing to do: no effect
	Confirmed = "confirmed" // the user confirmed: the action starts
	Cancelled = "cancelled" // the user said no before it started
	Finished  = "finished"  // it ran to the end (Result says how)
	Failed    = "failed"    // it stopped on an error (Result, Error)
)

// Record is one line of the log. Destination, context and error texts
// come from the broker and the config; secrets are scrubbed by the caller
// (as for every error mqctl prints).
type Record struct {
	V    int       `json:"v"`
	Time time.Time `json:"time"`
	// ID ties the records of one action together.
	ID          string           `json:"id"`
	User        string           `json:"user"`
	Host        string           `json:"host,omitempty"`
	PID         int              `json:"pid"`
	Via         string           `json:"via"` // "top", "dlq replay", ...
	Context     string           `json:"context"`
	Broker      string           `json:"broker,omitempty"`
	Action      string           `json:"action"` // "replay", "purge", "offsets reset"
	Destination string           `json:"destination"`
	Event       string           `json:"event"`
	Counts      map[string]int64 `json:"counts,omitempty"`
	// Result is ok, partial, cancelled, interrupted or failed on the
	// last record of an action; why on a refused or cancelled one.
	Result string `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`
	// Group and To are an offsets reset's consumer group (or JetStream
	// durable) and target, as `mqctl offsets reset GROUP --to TO` has them.
	Group string `json:"group,omitempty"`
	To    string `json:"to,omitempty"`
}

// DefaultPath is $XDG_STATE_HOME/mqctl/audit.jsonl, by default
// ~/.local/state/mqctl/audit.jsonl. A relative XDG_STATE_HOME is ignored,
// as the XDG base directory specification says.
func DefaultPath() (string, error) {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("audit log: no XDG_STATE_HOME and no home directory: %w", err)
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "mqctl", "audit.jsonl"), nil
}

// Log appends records to one file. It is safe for concurrent use.
type Log struct {
	Path string
	// Now is the clock (tests fix it); nil is time.Now.
	Now func() time.Time

	mu       sync.Mutex
	user     string
	host     string
	lastID   int64
	idPrefix string
}

// Open returns a Log appending to path; nothing is created until the
// first record.
func Open(path string) *Log {
	l := &Log{Path: path, user: currentUser()}
	l.host, _ = os.Hostname()
	l.idPrefix = strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.Itoa(os.Getpid())
	return l
}

// NewID returns an id for the records of one action, unique per process
// start.
func (l *Log) NewID() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lastID++
	return l.idPrefix + "-" + strconv.FormatInt(l.lastID, 10)
}

func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "uid " + strconv.Itoa(os.Getuid())
}

// Append writes r as one line and syncs it to disk before it returns:
// an action whose intent could not be recorded is not started. The file
// is created 0600 in a 0700 directory, and a file found readable by
// others is made 0600 again.
func (l *Log) Append(r Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	r.V = 1
	if r.Time.IsZero() {
		now := time.Now
		if l.Now != nil {
			now = l.Now
		}
		r.Time = now().UTC()
	}
	if r.User == "" {
		r.User = l.user
	}
	if r.Host == "" {
		r.Host = l.host
	}
	if r.PID == 0 {
		r.PID = os.Getpid()
	}
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	// Names come from brokers: written as \u escapes, a bidi override or an
	// invisible character in one cannot reorder or hide what `cat` shows.
	line = append(output.EscapeJSONControls(line), '\n')
	if err := os.MkdirAll(filepath.Dir(l.Path), 0o700); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	f, err := os.OpenFile(l.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && fi.Mode().Perm()&0o077 != 0 {
		err = f.Chmod(0o600)
	}
	if err == nil {
		_, err = f.Write(line)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("audit log %s: %w", l.Path, err)
	}
	return nil
}
