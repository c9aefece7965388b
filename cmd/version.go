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

// VersionOptions is what `mqctl version` needs once its flags are parsed.
type VersionOptions struct {
	IO     *output.Streams
	Format output.Format
}

// NewCmdVersion builds `mqctl version`. Every command has this shape (as
// gh's do): the constructor parses flags into an options struct and calls
// runF when given (tests check the parsing there), else the private run.
func NewCmdVersion(f *Factory, runF func(*VersionOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print mqctl's version, commit and Go version",
		Example: "  mqctl version\n  mqctl version -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := f.Format()
			if err != nil {
				return err
			}
			opts := &VersionOptions{IO: f.IO, Format: format}
			if runF != nil {
				return runF(opts)
			}
			return versionRun(opts)
		},
	}
}

func versionRun(opts *VersionOptions) error {
	v := versionInfo{Version: version, Commit: commit, Go: runtime.Version()}
	if opts.Format.Name == "table" {
		_, err := fmt.Fprintf(opts.IO.Out, "mqctl %s (commit %s, %s)\n", v.Version, v.Commit, v.Go)
		return err
	}
	return output.Object(opts.IO, opts.Format, v, nil)
}
