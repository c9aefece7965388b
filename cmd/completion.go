package cmd

import (
	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

// CompletionOptions is what `mqctl completion` needs: the shell and the
// command tree it describes.
type CompletionOptions struct {
	IO    *output.Streams
	Shell string
	Root  *cobra.Command
}

// NewCmdCompletion builds `mqctl completion`; runF, when given, receives
// the options instead of the run.
func NewCmdCompletion(f *Factory, runF func(*CompletionOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: `Print a completion script for your shell. For example:
  bash:  source <(mqctl completion bash)
  zsh:   mqctl completion zsh > "${fpath[1]}/_mqctl"
  fish:  mqctl completion fish > ~/.config/fish/completions/mqctl.fish`,
		Example: `  source <(mqctl completion bash)
  mqctl completion fish > ~/.config/fish/completions/mqctl.fish`,
		ValidArgs:             []string{"bash", "zsh", "fish", "powershell"},
		Args:                  cobra.ExactArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := &CompletionOptions{IO: f.IO, Shell: args[0], Root: cmd.Root()}
			if runF != nil {
				return runF(opts)
			}
			return completionRun(opts)
		},
	}
}

func completionRun(opts *CompletionOptions) error {
	out := opts.IO.Out
	switch opts.Shell {
	case "bash":
		return opts.Root.GenBashCompletionV2(out, true)
	case "zsh":
		return opts.Root.GenZshCompletion(out)
	case "fish":
		return opts.Root.GenFishCompletion(out, true)
	case "powershell":
		return opts.Root.GenPowerShellCompletionWithDesc(out)
	}
	return mqerr.Usagef("unknown shell %q: want bash, zsh, fish or powershell", opts.Shell)
}
