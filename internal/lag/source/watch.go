package source

import (
	"context"
	"time"

	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/nagios"
)

// Refresh is one read of a Watch, judged over the sample window.
type Refresh struct {
	Now      time.Time
	Rows     []lag.Row
	Statuses map[string]lag.Status
	Report   *Report // nil for a single target
}

// Watch reads every interval until ctx ends (and returns ctx's error),
// judging rows over a window of samples reads. A read that fails goes to
// onErr and is retried at the next tick; each read that succeeds goes to
// onRefresh, whose error ends the watch.
func (s *Source) Watch(ctx context.Context, samples int, interval time.Duration, onErr func(error), onRefresh func(Refresh) error) error {
	win := lag.NewWindow(samples)
	span := time.Duration(samples-1) * interval
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		rows, failures, err := s.Read(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		now := time.Now()
		if err != nil {
			onErr(err)
		} else {
			win.Observe(now, rows)
			win.Prune(now.Add(-2 * span))
			if err := onRefresh(Refresh{Now: now, Rows: rows, Statuses: win.Statuses(), Report: s.Report(failures)}); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// CheckResult is a --check verdict: the Nagios status, the status line
// printed first, and the rows (and statuses with Rules) it judged.
type CheckResult struct {
	Status   nagios.Status
	Line     string
	Rows     []lag.Row
	Statuses map[string]lag.Status
}

// Check reads once (with th.Rules, samples times every interval) and
// judges the rows with lag.Check. A context that did not answer, or a
// NAME that selected nothing, is never OK. An error is a check that could
// not run.
func (s *Source) Check(ctx context.Context, th lag.Thresholds, samples int, interval time.Duration) (CheckResult, error) {
	var rows []lag.Row
	var failures []lag.Failure
	var statuses map[string]lag.Status
	rounds := 1
	if th.Rules {
		rounds = samples
	}
	win := lag.NewWindow(samples)
	for i := 0; i < rounds; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return CheckResult{}, ctx.Err()
			case <-time.After(interval):
			}
		}
		var err error
		rows, failures, err = s.Read(ctx)
		if err != nil {
			return CheckResult{}, err
		}
		win.Observe(time.Now(), rows)
	}
	if th.Rules {
		statuses = win.Statuses()
	}
	code, line := lag.Check(rows, th, statuses)
	if len(failures) > 0 {
		code, line = nagios.Degrade(code, line)
		line += "; no answer from " + FailedNames(failures)
	}
	if missing := s.Missing(rows); len(missing) > 0 {
		code, line = nagios.Degrade(code, line)
		line += "; " + MissingLine(missing, s.regex)
	}
	return CheckResult{Status: code, Line: line, Rows: rows, Statuses: statuses}, nil
}
