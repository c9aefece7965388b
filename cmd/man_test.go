package cmd

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mqctl/mqctl/internal/manpage"
)

// The committed man pages must be what the commands say now; `make man`
// regenerates them.
func TestManPagesUpToDate(t *testing.T) {
	dir := t.TempDir()
	if err := manpage.Write(NewRootCmd(newTestFactory(t)), dir); err != nil {
		t.Fatal(err)
	}
	fresh, _ := filepath.Glob(filepath.Join(dir, "*.1"))
	committed, _ := filepath.Glob(filepath.Join("..", "man", "*.1"))
	names := func(paths []string) []string {
		var out []string
		for _, p := range paths {
			out = append(out, filepath.Base(p))
		}
		return out
	}
	if len(fresh) < 20 {
		t.Fatalf("only %d pages generated", len(fresh))
	}
	if !slices.Equal(names(fresh), names(committed)) {
		t.Fatalf("man/ holds %v, the commands make %v: run make man", names(committed), names(fresh))
	}
	for _, p := range fresh {
		want, _ := os.ReadFile(p)
		got, err := os.ReadFile(filepath.Join("..", "man", filepath.Base(p)))
		if err != nil || string(got) != string(want) {
			t.Errorf("man/%s is stale: run make man", filepath.Base(p))
		}
	}
}
