// Command mqctl-sandbox runs real brokers on this machine; `mqctl sandbox`
// execs it. See package sandboxcmd for why it is a binary of its own.
package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/cmd"
	"github.com/mqctl/mqctl/cmd/sandboxcmd"
)

func main() {
	os.Exit(cmd.MainWith(func(f *cmd.Factory) *cobra.Command {
		root := sandboxcmd.NewCmd(f)
		cmd.ConfigureRoot(f, root)
		return root
	}))
}
