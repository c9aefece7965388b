package lag

import (
	"time"

	"github.com/mqctl/mqctl/internal/mqerr"
)

// Mode is how `mqctl lag` runs: once, with --watch, or with --check
// (sampling with --rules). Its checks refuse flags that mean nothing in
// the mode, before any connection: a flag silently ignored reads as a
// promise kept.
type Mode struct {
	Watch, Check bool
	Samples      int
	Interval     time.Duration
	Thresholds   Thresholds
}

// CheckFlags refuses the sampling and threshold flags outside the modes
// they apply to; changed reports whether a flag was given.
func (m Mode) CheckFlags(changed func(name string) bool) error {
	if m.Samples < 2 {
		return mqerr.Usagef("--samples %d: want 2 or more", m.Samples)
	}
	if m.Interval <= 0 {
		return mqerr.Usagef("--interval must be positive")
	}
	sampling := m.Watch || m.Check && m.Thresholds.Rules
	for _, name := range []string{"samples", "interval"} {
		if changed(name) && !sampling {
			return mqerr.Usagef("--%s applies to --watch and --check --rules", name)
		}
	}
	if !m.Check {
		for _, name := range []string{"warn", "crit", "warn-time", "crit-time", "rules"} {
			if changed(name) {
				return mqerr.Usagef("--%s applies to --check", name)
			}
		}
		return nil
	}
	// A limit is reached at or above it, and 0 is how a limit is left
	// unset: a limit given as 0 would either hold for every row or be
	// ignored, so it is refused.
	th := m.Thresholds
	for _, z := range []struct {
		name, status string
		zero, time   bool
	}{
		{"warn", "WARN", th.WarnLag == 0, false},
		{"crit", "CRIT", th.CritLag == 0, false},
		{"warn-time", "WARN", th.WarnTime == 0, true},
		{"crit-time", "CRIT", th.CritTime == 0, true},
	} {
		switch {
		case !changed(z.name) || !z.zero:
		case z.time:
			return mqerr.Usagef("--%s 0 would make every row %s (a limit is reached at or above it): want a duration above 0", z.name, z.status)
		default:
			return mqerr.Usagef("--%s 0 would make every row %s (a limit is reached at or above it): want 1 or more (1: any lag)", z.name, z.status)
		}
	}
	return nil
}

// CheckOutput refuses what --check does not go with: bad thresholds,
// --watch, and any output but the status line (output is the -o given,
// table reports whether it names the table without wide).
func (m Mode) CheckOutput(table bool, output string) error {
	if !m.Check {
		return nil
	}
	if err := m.Thresholds.Validate(); err != nil {
		return err
	}
	if m.Watch {
		return mqerr.Usagef("--check and --watch exclude each other")
	}
	if !table {
		return mqerr.Usagef("--check prints a Nagios status line (and the table with -v): -o %s does not apply", output)
	}
	return nil
}
