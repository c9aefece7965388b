// Command report renders RELIABILITY.md from the JSON lines the
// reliability scenarios wrote ($MQCTL_RELIABILITY_OUT), scripts/fuzz.sh
// wrote ($MQCTL_FUZZ_OUT) and the secret-leak test wrote
// ($MQCTL_LEAK_OUT); scripts/reliability.sh runs it.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/mqctl/mqctl/internal/reliability"
)

func main() {
	in := flag.String("in", "", "JSON lines the scenarios wrote")
	keep := flag.String("keep", "", "an earlier RELIABILITY.md whose scenario part is kept as it is, instead of -in")
	fuzz := flag.String("fuzz", "", "JSON lines scripts/fuzz.sh wrote")
	leak := flag.String("leak", "", "the JSON line the secret-leak test wrote")
	out := flag.String("out", "RELIABILITY.md", "file to write")
	commit := flag.String("commit", "unknown", "commit measured")
	runs := flag.Int("runs", 0, "runs per scenario asked for")
	seconds := flag.Float64("seconds", 0, "how long the scenarios took")
	flag.Parse()
	m := reliability.Meta{
		Date:    time.Now().UTC().Format("2006-01-02"),
		Machine: fmt.Sprintf("%d cores, %s/%s", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH),
		Go:      runtime.Version(),
		Commit:  *commit,
		Runs:    *runs,
		Seconds: *seconds,
	}
	if err := run(*in, *keep, *fuzz, *leak, *out, m); err != nil {
		fmt.Fprintln(os.Stderr, "reliability report:", err)
		os.Exit(1)
	}
}

func run(in, keep, fuzz, leak, out string, m reliability.Meta) error {
	d := reliability.Doc{Meta: m, Measured: m}
	switch {
	case (in == "") == (keep == ""):
		return errors.New("give one of -in and -keep")
	case in != "":
		rs, err := reliability.Read(in)
		if err != nil {
			return err
		}
		if len(rs) == 0 {
			return fmt.Errorf("%s holds no scenario", in)
		}
		d.Scenarios = rs
	default:
		md, err := os.ReadFile(keep)
		if err != nil {
			return err
		}
		if d.Kept, err = reliability.KeptScenarios(string(md)); err != nil {
			return fmt.Errorf("%s: %w", keep, err)
		}
	}
	if fuzz != "" {
		fs, err := reliability.ReadFuzz(fuzz)
		if err != nil {
			return err
		}
		if len(fs) == 0 {
			return fmt.Errorf("%s holds no fuzz target", fuzz)
		}
		d.Fuzz = fs
	}
	if leak != "" {
		l, err := reliability.ReadLeak(leak)
		if err != nil {
			return err
		}
		d.Leak = &l
	}
	var b bytes.Buffer
	if err := reliability.Write(&b, d); err != nil {
		return err
	}
	return os.WriteFile(out, b.Bytes(), 0o644)
}
