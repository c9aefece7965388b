package cmd

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// Every command's --help shows an Example block: the walk fails on any
// command, parent or leaf, without one.
func TestEveryCommandHasAnExample(t *testing.T) {
	var missing []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if !c.Hidden && strings.TrimSpace(c.Example) == "" {
			missing = append(missing, c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(NewRootCmd(newTestFactory(t)))
	if len(missing) > 0 {
		t.Errorf("%d commands without an Example: %s", len(missing), strings.Join(missing, ", "))
	}
}
