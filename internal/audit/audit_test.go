package audit

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultPath(t *testing.T) {
	t.Setenv("HOME", "/home/oncall")
	for _, tc := range []struct{ xdg, want string }{
		{"", "/home/oncall/.local/state/mqctl/audit.jsonl"},
		{"/var/state", "/var/state/mqctl/audit.jsonl"},
		{"relative/dir", "/home/oncall/.local/state/mqctl/audit.jsonl"},
	} {
		t.Setenv("XDG_STATE_HOME", tc.xdg)
		got, err := DefaultPath()
		if err != nil || got != tc.want {
			t.Errorf("XDG_STATE_HOME=%q: %q, %v; want %q", tc.xdg, got, err, tc.want)
		}
	}
}

// Records are appended one per line, with who and when filled in, in a
// file and directory only the owner can read.
func TestAppend(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state", "mqctl", "audit.jsonl")
	l := Open(path)
	l.Now = func() time.Time { return time.Date(2026, 12, 5, 3, 0, 0, 0, time.FixedZone("X", 3600)) }
	id := l.NewID()
	if id == l.NewID() {
		t.Fatal("ids repeat")
	}
	if err := l.Append(Record{ID: id, Via: "top", Context: "prod", Broker: "kafka", Action: "replay", Destination: "orders.DLT", Event: Attempted}); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(Record{ID: id, Via: "top", Context: "prod", Action: "replay", Destination: "orders.DLT", Event: Finished,
		Counts: map[string]int64{"read": 3, "replayed": 3}, Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, want 0700", di.Mode().Perm())
	}
	recs := read(t, path)
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	r := recs[1]
	if r.V != 1 || r.User == "" || r.PID != os.Getpid() || r.ID != id || r.Event != Finished || r.Counts["replayed"] != 3 || r.Result != "ok" {
		t.Errorf("record %+v", r)
	}
	if got := r.Time.Format(time.RFC3339); got != "2026-12-05T02:00:00Z" {
		t.Errorf("time %s, want UTC", got)
	}
}

// A log file someone made readable by others is made 0600 again before
// anything more is written to it.
func TestAppendTightensMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(path, []byte(`{"v":1}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Open(path).Append(Record{Action: "purge", Event: Attempted}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if n := len(read(t, path)); n != 2 {
		t.Errorf("%d records: the old one must stay", n)
	}
}

// A log that cannot be written is an error, so the caller can refuse the
// action.
func TestAppendFails(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := Open(filepath.Join(blocker, "mqctl", "audit.jsonl")).Append(Record{Action: "purge"})
	if err == nil || !strings.Contains(err.Error(), "audit log") {
		t.Fatalf("err %v", err)
	}
}

func read(t *testing.T, path string) []Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// A destination named with a bidi override, an invisible character or an
// escape is written as \u escapes: the file is safe to cat, and a JSON
// reader gets the name back as it was.
func TestAppendEscapesHostileNames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l := Open(path)
	name := "orders\u200b.dlq\u202egpj.\x1b[2J\U000E0041\u0085"
	if err := l.Append(Record{ID: l.NewID(), Via: "top", Action: "purge", Destination: name, Event: Attempted}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range string(raw) {
		if r < 0x20 && r != '\n' || r >= 0x7f && r < 0xa0 || r == 0x200b || r == 0x202e || r >= 0xe0000 {
			t.Fatalf("%U written raw: %q", r, raw)
		}
	}
	if got := read(t, path)[0].Destination; got != name {
		t.Errorf("read back %q, wrote %q", got, name)
	}
}
