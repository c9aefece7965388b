package cmd

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/output"
)

// Set by the Makefile through -ldflags "-X github.com/mqctl/mqctl/cmd.version=...".
var (
	version = "dev"
	commit  = "unknown"
)

type versionInfo struct {
	Version string `json:"version" yaml:"version"`
	Commit  string `json:"commit" yaml:"commit"`
	Go      string `json:"go" yaml:"go"`
}

func newVersionCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print mqctl's version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := f.Format()
			if err != nil {
				return err
			}
			v := versionInfo{Version: version, Commit: commit, Go: runtime.Version()}
			if format.Name == "table" {
				_, err := fmt.Fprintf(f.IO.Out, "mqctl %s (commit %s, %s)\n", v.Version, v.Commit, v.Go)
				return err
			}
			return output.Object(f.IO, format, v, nil)
		},
	}
}
