package dlq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
	"unicode"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

// Job is what replay, move and purge share: the source, the selection,
// the pace, and where the user is asked and told. The caller checks flags
// and context permissions; a Job confirms, opens producers and the
// consumer (last: a consumer may take deliveries or join a group at once,
// which a refused run must not cause) and runs.
type Job struct {
	Source   *Source
	Filter   *Filter
	Limit    int64
	Rate     float64
	InFlight int
	// DryRun changes nothing; DryRunOut gets one line per dead letter
	// saying what would happen.
	DryRun    bool
	DryRunOut io.Writer
	// Err receives the lines that say what was done ("mqctl: ...").
	Err io.Writer
	// Confirm is asked question before a real run; nil goes on.
	Confirm func(question string) error
	// Progress starts a progress line on the real run and returns its
	// stop; nil shows none.
	Progress func(line func(elapsed time.Duration) string) (stop func())
	// Stats, when set, counts what the run does as it goes, for a caller
	// that shows progress and the result itself (top); nil: the job's own.
	Stats *MoveStats
}

// MoveJob is `dlq replay` (Verb "replay": each dead letter back to its
// origin, death headers stripped) or `dlq move` ("move": to To unchanged).
type MoveJob struct {
	Job
	Verb string
	// Dest is where dead letters go; nil: the source's connection.
	Dest       broker.Conn
	DestTarget broker.Target
	To, Park   string
	// Group is the consumer group whose commits mark dead letters done,
	// where the source reads through one.
	Group      string
	MaxReplays int
}

// Run runs the job and prints its summary.
func (j *MoveJob) Run(ctx context.Context) error {
	src := j.Source
	dst, dstTarget := j.Dest, j.DestTarget
	if dst == nil {
		dst, dstTarget = src.Conn, src.Target
	}
	dstCaps := NewSource(dst, dstTarget, "", nil).Caps
	st := j.stats()
	run := j.options(j.Verb)
	run.MaxReplays = j.MaxReplays
	shape := Replay
	if j.Verb == "move" {
		shape = AsIs
	}
	// A dry run shapes each dead letter as the real run would, without a
	// producer, to report those the real run would leave.
	forward := &Publisher{Shape: shape, Source: src.Caps, Target: dstCaps, To: j.To, Duplicates: &st.Duplicates, Routes: &st.To}
	run.Forward = forward
	var park *Publisher
	if j.Park != "" {
		park = &Publisher{Shape: AsIs, Source: src.Caps, Target: dstCaps, To: j.Park, Duplicates: &st.Duplicates}
		run.Park = park
	}
	mode, prefetch := ReadRemove, j.InFlight
	if j.DryRun {
		mode = ReadDryRun
		if src.Caps.PeekHolds {
			// A dry run holds what it reads: to see what the real run
			// would read it needs room for the whole source.
			prefetch = MaxHeld
		}
	} else {
		to := j.To
		if to == "" {
			to = "where each came from"
		}
		if err := j.confirm(fmt.Sprintf("%s the dead letters of %s (%s) to %s?", j.Verb, src.Name, src.Target.Redacted(), to)); err != nil {
			return err
		}
		p, err := openForwardProducer(ctx, dst, dstTarget, j.InFlight)
		if err != nil {
			return err
		}
		defer p.Close()
		forward.Producer = p
		if park != nil {
			park.Producer = p
		}
		if rotates(src.Caps) {
			rp := p
			if dst != src.Conn {
				if rp, err = openForwardProducer(ctx, src.Conn, src.Target, j.InFlight); err != nil {
					return err
				}
				defer rp.Close()
			}
			run.Skip = rotateSkip(src, rp)
		}
	}
	c, err := src.Consumer(ctx, mode, j.Group, prefetch)
	if err != nil {
		return err
	}
	return j.run(ctx, c, run, st, map[string]string{"replay": "replayed", "move": "moved"}[j.Verb])
}

// PurgeJob is `dlq purge`.
type PurgeJob struct {
	Job
	// Export is the file each dead letter is written to, synced, before
	// it is deleted; "" for none. CheckExportPath it first.
	Export string
	// URLFlag says the context came with --url, which the printed restore
	// command repeats.
	URLFlag bool
}

// CheckPurge refuses a filtered purge of a source that can only be
// deleted up to a position (Capabilities.FilteredPurge).
func CheckPurge(src *Source, f *Filter) error {
	if !f.Empty() && !src.Caps.FilteredPurge {
		return mqerr.Usagef("purge by filter is not supported on %s: records can only be deleted up to an offset; purge all, or replay/move the ones you want first", title(src.Caps.Name))
	}
	return nil
}

// Run runs the purge and prints what it did.
func (j *PurgeJob) Run(ctx context.Context) error {
	src := j.Source
	exportPath := j.Export
	if j.DryRun {
		exportPath = ""
	}
	if !j.DryRun {
		if err := j.confirm(fmt.Sprintf("Delete the dead letters of %s (%s)?", src.Name, src.Target.Redacted())); err != nil {
			return err
		}
	}
	purger, _ := src.Conn.(broker.Purger)
	// Everything, nothing to export: the broker's own purge.
	if j.Filter.Empty() && exportPath == "" && !j.DryRun && j.Limit == 0 {
		return j.purge(ctx, purger, nil)
	}
	// Sources purged up to a position, without filters: export by
	// reading, then purge exactly up to what was exported.
	purgeAfter := j.Filter.Empty() && src.Caps.PurgeAfterCopy && !j.DryRun
	mode, prefetch := ReadRemove, j.InFlight
	switch {
	case j.DryRun && src.Caps.PeekHolds:
		mode, prefetch = ReadPeek, MaxHeld
	case j.DryRun || purgeAfter:
		mode = ReadPeek
	}
	st := j.stats()
	run := j.options("purge")
	run.Forward = Discard{}
	exporter := &Exporter{Source: src.Caps, Path: exportPath, Batch: j.InFlight}
	defer exporter.Close()
	if exportPath != "" || purgeAfter {
		run.Forward = exporter
	}
	if rotates(src.Caps) && !j.DryRun {
		rp, err := openForwardProducer(ctx, src.Conn, src.Target, j.InFlight)
		if err != nil {
			return err
		}
		defer rp.Close()
		run.Skip = rotateSkip(src, rp)
	}
	c, err := src.Consumer(ctx, mode, "", prefetch)
	if err != nil {
		return err
	}
	verb := "purged"
	if purgeAfter {
		verb = "read"
		if exportPath != "" {
			verb = "exported"
		}
	}
	runErr := j.run(ctx, c, run, st, verb)
	if err := exporter.Close(); err != nil && runErr == nil {
		runErr = mqerr.Wrap(mqerr.Partial, err)
	}
	if exportPath != "" && !exporter.Created() {
		output.ErrLine(j.Err, "", fmt.Sprintf("nothing was exported, so %s was not created", exportPath))
	}
	if runErr != nil || !purgeAfter {
		if runErr == nil && exporter.Created() {
			j.printRestoreHint(exporter)
		}
		return runErr
	}
	if purger == nil {
		return mqerr.Usagef("purge is not supported on %s", src.Caps.Name)
	}
	if len(exporter.Last) == 0 {
		output.ErrLine(j.Err, "", "nothing to purge in "+src.Name)
		return nil
	}
	if err := j.purge(ctx, purger, exporter.Last); err != nil {
		if exportPath != "" {
			return fmt.Errorf("exported to %s, but the purge failed: %w", exportPath, err)
		}
		return err
	}
	if exporter.Created() {
		j.printRestoreHint(exporter)
	}
	return nil
}

// purge deletes what the source holds, before the positions in before
// (nil: everything), through the broker's own purge.
func (j *PurgeJob) purge(ctx context.Context, purger broker.Purger, before map[int32]int64) error {
	src := j.Source
	if purger == nil {
		return mqerr.Usagef("purge is not supported on %s", src.Caps.Name)
	}
	pctx, cancel := src.timeout(ctx)
	defer cancel()
	n, err := purger.Purge(pctx, broker.PurgeRequest{Dest: src.Name, Before: before})
	if err != nil {
		return err
	}
	j.stats().Purged.Add(n)
	output.ErrLine(j.Err, "", fmt.Sprintf("purged %d dead letters from %s", n, src.Name))
	return nil
}

func (j *PurgeJob) printRestoreHint(e *Exporter) {
	args, note := RestoreCommand(j.Source.Target, j.URLFlag, j.Source.Caps, j.Source.Name, e)
	output.ErrLine(j.Err, "", fmt.Sprintf("%d dead letters are in %s; this restores them%s:", e.Exported, e.Path, note))
	// ShellJoin writes controls as $'\xHH' escapes: the line is inert on
	// a terminal and still pastes as the same command.
	fmt.Fprintf(j.Err, "  %s\n", ShellJoin(args))
}

// options are the Run options every job starts from.
func (j *Job) options(verb string) Options {
	src := j.Source
	return Options{Broker: src.Broker(), Getter: src.Getter(), Filter: j.Filter, Limit: j.Limit, Rate: j.Rate,
		DryRun: j.DryRun, DryRunOut: j.DryRunOut, Logf: src.Logf, Skip: SkipFor(src.Caps, nil), Verb: verb}
}

func (j *Job) stats() *MoveStats {
	if j.Stats == nil {
		j.Stats = &MoveStats{}
	}
	return j.Stats
}

func (j *Job) confirm(question string) error {
	if j.Confirm == nil {
		return nil
	}
	return j.Confirm(question)
}

// run runs the loop with a progress line and prints the summary.
func (j *Job) run(ctx context.Context, c broker.Consumer, run Options, st *MoveStats, verb string) error {
	stop := func() {}
	if j.Progress != nil && !run.DryRun {
		stop = j.Progress(func(el time.Duration) string {
			return fmt.Sprintf("read %d  %s %d  skipped %d  failed %d  %.0f/s", st.Read.Load(), verb, st.Forwarded.Load(),
				st.Skipped.Load(), st.Failed.Load(), float64(st.Forwarded.Load())/el.Seconds())
		})
	}
	start := time.Now()
	err := Run(ctx, c, st, run)
	stop()
	if run.DryRun {
		verb = "would be " + verb
	}
	summary := st.Summary(verb, time.Since(start))
	if run.DryRun && j.Source.Caps.PeekMarksRedelivered && st.Read.Load() > 0 {
		summary += fmt.Sprintf("; the %d read went back to %s marked redelivered", st.Read.Load(), j.Source.Name)
	}
	output.ErrLine(j.Err, "", summary)
	return broker.Scrub(err, j.Source.Target.Secrets()...)
}

// rotates says a passed-over dead letter must be put back to the tail of
// its source for a run to get past it: the source is a queue whose
// messages leave one by one as they are acked (Capabilities.PurgeAfterCopy
// is false), so one left unacked would be delivered again at once.
func rotates(c broker.Capabilities) bool { return !c.PurgeAfterCopy }

// rotateSkip passes over a dead letter by sending it to the tail of its
// source through p (see SkipFor).
func rotateSkip(src *Source, p broker.Producer) func(context.Context, *broker.Delivery) error {
	return SkipFor(src.Caps, &Publisher{Shape: AsIs, Source: src.Caps, Target: src.Caps, Producer: p, To: src.Name})
}

// openForwardProducer opens a producer that sends each message where it
// says (PerMessageDestination), with confirms.
func openForwardProducer(ctx context.Context, conn broker.Conn, t broker.Target, inFlight int) (broker.Producer, error) {
	pub, err := broker.As[broker.Publisher](conn, "publishing")
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, t.EffectiveTimeout())
	defer cancel()
	return pub.NewProducer(pctx, broker.ProducerOptions{PerMessageDestination: true, InFlight: inFlight, Mandatory: true, Persistent: true})
}

// CheckExportPath refuses an --export file that exists (an earlier export
// may be the only copy left) or whose directory does not, before anything
// is read; the file itself is created with the first dead letter.
func CheckExportPath(path string) error {
	if _, err := os.Lstat(path); err == nil {
		return mqerr.Usagef("--export %s: the file exists, and an earlier export may be the only copy left; name a new file", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return mqerr.Usagef("--export: %v", err)
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return mqerr.Usagef("--export %s: directory %s does not exist", path, dir)
	}
	return nil
}

// title is a family name as a sentence names it ("Kafka").
func title(name string) string {
	r := []rune(name)
	if len(r) == 0 {
		return name
	}
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}
