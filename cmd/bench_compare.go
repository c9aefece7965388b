package cmd

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/bench"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

// BenchCompareOptions is what `mqctl bench compare` needs.
type BenchCompareOptions struct {
	IO     *output.Streams
	Format output.Format
	Files  []string
}

// NewCmdBenchCompare builds `mqctl bench compare A.json B.json...`.
func NewCmdBenchCompare(f *Factory, runF func(*BenchCompareOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:   "compare RUN.json RUN.json...",
		Short: "Show kept bench runs (-o json) side by side, with each run's ratio to the first",
		Example: `  mqctl bench -o json --duration 10s > before.json
  mqctl bench -o json --duration 10s > after.json
  mqctl bench compare before.json after.json`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := f.Format()
			if err != nil {
				return err
			}
			opts := &BenchCompareOptions{IO: f.IO, Format: format, Files: args}
			if runF != nil {
				return runF(opts)
			}
			return benchCompareRun(opts)
		},
	}
}

func benchCompareRun(o *BenchCompareOptions) error {
	var runs []bench.Summary
	var names []string
	seen := map[string]bool{}
	for i, file := range o.Files {
		b, err := os.ReadFile(file)
		if err != nil {
			return mqerr.Usagef("bench compare: %v", err)
		}
		s, err := bench.ParseSummary(b)
		if err != nil {
			return mqerr.Usagef("bench compare: %s: %v", file, err)
		}
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		if seen[name] {
			name = file
		}
		if seen[name] {
			name = fmt.Sprintf("%s#%d", name, i+1)
		}
		seen[name] = true
		runs, names = append(runs, s), append(names, name)
	}
	c := bench.Compare(names, runs)
	return output.Object(o.IO, o.Format, c, c.Table)
}
