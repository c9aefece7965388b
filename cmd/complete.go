package cmd

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/complete"
)

// completeNames completes names of kind from the live broker of the
// context the command line selects, within complete.Timeout; maxArgs > 0
// stops completing once that many arguments are given. A config that
// does not resolve, or several contexts, complete nothing.
func completeNames(f *Factory, kind broker.NameKind, maxArgs int) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if (maxArgs > 0 && len(args) >= maxArgs) || strings.Contains(f.Global.Context, ",") {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		t, err := f.Target()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return complete.Names(cmd.Context(), t, kind, toComplete, args), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeFlagNames is completeNames for a flag's value.
func completeFlagNames(f *Factory, kind broker.NameKind) cobra.CompletionFunc {
	names := completeNames(f, kind, 0)
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return names(cmd, nil, toComplete)
	}
}
