package cmd_test

import (
	"os"
	"path/filepath"
	"testing"
)

// The committed completion scripts must match what the binary generates;
// `make completions` regenerates them.
func TestCompletionsUpToDate(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		r := newCLI(t).run("completion", sh)
		if r.code != 0 || len(r.stdout) < 500 {
			t.Fatalf("completion %s: exit %d, %d bytes", sh, r.code, len(r.stdout))
		}
		committed, err := os.ReadFile(filepath.Join("..", "completions", "mqctl."+sh))
		if err != nil {
			t.Fatalf("completions/mqctl.%s: %v (run make completions)", sh, err)
		}
		if string(committed) != r.stdout {
			t.Errorf("completions/mqctl.%s is stale: run make completions", sh)
		}
	}
}
