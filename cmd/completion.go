package cmd

import (
	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/mqerr"
)

func newCompletionCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: `Print a completion script for your shell. For example:
  bash:  source <(mqctl completion bash)
  zsh:   mqctl completion zsh > "${fpath[1]}/_mqctl"
  fish:  mqctl completion fish > ~/.config/fish/completions/mqctl.fish`,
		ValidArgs:             []string{"bash", "zsh", "fish", "powershell"},
		Args:                  cobra.ExactArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			out := f.IO.Out
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(out)
			}
			return mqerr.Usagef("unknown shell %q: want bash, zsh, fish or powershell", args[0])
		},
	}
}
