// Package manpage writes mqctl's man pages from its cobra command tree
// with cobra's doc generator: `make man` runs it into man/, and a test
// fails when the committed pages differ from what the commands say.
package manpage

import (
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// date is the date the pages carry. A fixed one keeps regenerated pages
// byte for byte equal, so a stale man/ is a test failure, not noise.
var date = time.Date(2026, time.December, 6, 0, 0, 0, 0, time.UTC)

// Write writes one page per command of root into dir (section 1), after
// removing the pages a previous run wrote, so a removed command loses
// its page.
func Write(root *cobra.Command, dir string) error {
	old, err := filepath.Glob(filepath.Join(dir, "*.1"))
	if err != nil {
		return err
	}
	for _, p := range old {
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	disableAutoGenTag(root)
	return doc.GenManTreeFromOpts(root, doc.GenManTreeOptions{
		Path:             dir,
		CommandSeparator: "-",
		Header: &doc.GenManHeader{
			Section: "1",
			Date:    &date,
			Source:  "mqctl",
			Manual:  "mqctl manual",
		},
	})
}

// disableAutoGenTag drops cobra's "Auto generated ... on DATE" footer,
// which would change every day.
func disableAutoGenTag(c *cobra.Command) {
	c.DisableAutoGenTag = true
	for _, sub := range c.Commands() {
		disableAutoGenTag(sub)
	}
}
