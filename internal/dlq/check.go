package dlq

import (
	"fmt"
	"strings"

	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/nagios"
)

// Depth is one dead-letter destination's message count, for Check.
type Depth struct {
	Name     string
	Messages int64
}

// CheckThresholds are --warn and --crit in messages; 0 is unset.
type CheckThresholds struct {
	Warn, Crit int64
}

// Validate refuses a check without thresholds or with warn above crit.
func (t CheckThresholds) Validate() error {
	switch {
	case t.Warn <= 0 && t.Crit <= 0:
		return mqerr.Usagef("--check needs --warn N and/or --crit N (messages)")
	case t.Warn < 0 || t.Crit < 0:
		return mqerr.Usagef("--warn and --crit must not be negative")
	case t.Warn > 0 && t.Crit > 0 && t.Warn > t.Crit:
		return mqerr.Usagef("--warn %d is above --crit %d", t.Warn, t.Crit)
	}
	return nil
}

// Check returns the Nagios code and the status line for the depths: the
// deepest destination decides, e.g.
//
//	CRIT dlq=orders.DLT messages=1200 (crit 1000); 2 of 5 over thresholds
func Check(depths []Depth, th CheckThresholds) (code nagios.Status, line string) {
	if len(depths) == 0 {
		return nagios.OK, "OK no dead-letter destinations found"
	}
	worst, over := depths[0], 0
	level := func(n int64) nagios.Status {
		switch {
		case th.Crit > 0 && n >= th.Crit:
			return nagios.Critical
		case th.Warn > 0 && n >= th.Warn:
			return nagios.Warning
		}
		return nagios.OK
	}
	for _, d := range depths {
		if level(d.Messages) != nagios.OK {
			over++
		}
		if d.Messages > worst.Messages {
			worst = d
		}
	}
	code = level(worst.Messages)
	var b strings.Builder
	b.WriteString(code.String())
	fmt.Fprintf(&b, " dlq=%s messages=%d", worst.Name, worst.Messages)
	switch code {
	case nagios.Critical:
		fmt.Fprintf(&b, " (crit %d)", th.Crit)
	case nagios.Warning:
		fmt.Fprintf(&b, " (warn %d)", th.Warn)
	}
	fmt.Fprintf(&b, "; %d of %d over thresholds", over, len(depths))
	return code, b.String()
}
