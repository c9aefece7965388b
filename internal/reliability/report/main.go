// Command report renders RELIABILITY.md from the JSON lines the
// reliability scenarios wrote ($MQCTL_RELIABILITY_OUT); scripts/reliability.sh
// runs it.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/mqctl/mqctl/internal/reliability"
)

func main() {
	in := flag.String("in", "", "JSON lines the scenarios wrote")
	out := flag.String("out", "RELIABILITY.md", "file to write")
	commit := flag.String("commit", "unknown", "commit measured")
	runs := flag.Int("runs", 0, "runs per scenario asked for")
	seconds := flag.Float64("seconds", 0, "how long the suite took")
	flag.Parse()
	if err := run(*in, *out, reliability.Meta{
		Date:    time.Now().UTC().Format("2006-01-02"),
		Machine: fmt.Sprintf("%d cores, %s/%s", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH),
		Go:      runtime.Version(),
		Commit:  *commit,
		Runs:    *runs,
		Seconds: *seconds,
	}); err != nil {
		fmt.Fprintln(os.Stderr, "reliability report:", err)
		os.Exit(1)
	}
}

func run(in, out string, m reliability.Meta) error {
	rs, err := reliability.Read(in)
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		return fmt.Errorf("%s holds no scenario", in)
	}
	var b bytes.Buffer
	if err := reliability.Render(&b, m, rs); err != nil {
		return err
	}
	return os.WriteFile(out, b.Bytes(), 0o644)
}
