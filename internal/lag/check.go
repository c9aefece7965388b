package lag

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/nagios"
)

// Thresholds are the --check limits. A zero limit is not set. A row is over
// a limit when its value is at or above it.
type Thresholds struct {
	WarnLag, CritLag   int64         // --warn, --crit: messages of lag
	WarnTime, CritTime time.Duration // --warn-time, --crit-time: time lag
	Rules              bool          // --rules: judge by Evaluate's status too
	// NoTime are contexts whose broker has no time lag (the command
	// learned it from the driver): time limits do not apply to their rows.
	NoTime map[string]bool
}

// Validate rejects limits that cannot mean what the user wanted.
func (t Thresholds) Validate() error {
	switch {
	case t.WarnLag < 0 || t.CritLag < 0 || t.WarnTime < 0 || t.CritTime < 0:
		return mqerr.Usagef("--check thresholds must not be negative")
	case t.WarnLag > 0 && t.CritLag > 0 && t.WarnLag > t.CritLag:
		return mqerr.Usagef("--warn %d is above --crit %d", t.WarnLag, t.CritLag)
	case t.WarnTime > 0 && t.CritTime > 0 && t.WarnTime > t.CritTime:
		return mqerr.Usagef("--warn-time %s is above --crit-time %s", t.WarnTime, t.CritTime)
	case t.WarnLag == 0 && t.CritLag == 0 && t.WarnTime == 0 && t.CritTime == 0 && !t.Rules:
		return mqerr.Usagef("--check needs --warn, --crit, --warn-time, --crit-time or --rules")
	}
	return nil
}

// severity orders verdicts from best to worst. UNKNOWN ranks below WARN so
// that a row with missing data never hides a real problem on another row.
type severity int

const (
	sevOK severity = iota
	sevUnknown
	sevWarn
	sevCrit
)

var sevStatus = [...]nagios.Status{sevOK: nagios.OK, sevUnknown: nagios.Unknown, sevWarn: nagios.Warning, sevCrit: nagios.Critical}

// verdict is one row's result with the extra fields the status line shows.
type verdict struct {
	row    Row
	sev    severity
	status Code   // set when --rules found a problem
	miss   string // what data was missing, for UNKNOWN
}

// Check is --check: it returns the Nagios status (its exit code) and the status line
// printed first. Per row:
//   - lag at or above CritLag, or time lag at or above CritTime, is CRIT;
//     at or above WarnLag/WarnTime is WARN;
//   - with Rules, a STOP, STALL or REWIND status is CRIT and WARN is WARN;
//   - missing data is UNKNOWN: no status for the row with Rules, no time
//     lag estimate for a lagging row when a time limit is set (a row with
//     lag 0 has time lag 0), or no counts at all (Stats StatsAbsent).
//
// The exit code is the worst row's (CRIT > WARN > UNKNOWN > OK), and
// UNKNOWN when there are no rows. The line names the worst row first (ties
// go to the bigger lag), then counts, e.g.
//
//	CRIT group=orders topic=t partition=3 lag=12034 time_lag=3m2s; 3 of 48 over thresholds
func Check(rows []Row, th Thresholds, statuses map[string]Status) (code nagios.Status, line string) {
	if len(rows) == 0 {
		return nagios.Unknown, "UNKNOWN no lag rows to check"
	}
	var worst verdict
	over, unknown := 0, 0
	for i, r := range rows {
		v := judge(r, th, statuses)
		switch v.sev {
		case sevWarn, sevCrit:
			over++
		case sevUnknown:
			unknown++
		}
		if i == 0 || worse(v, worst) {
			worst = v
		}
	}
	var b strings.Builder
	b.WriteString(sevStatus[worst.sev].String())
	for _, f := range identity(worst.row) {
		b.WriteString(" " + f)
	}
	fmt.Fprintf(&b, " lag=%d", worst.row.Lag)
	if worst.row.TimeLag > 0 {
		b.WriteString(" time_lag=" + formatDuration(worst.row.TimeLag))
	}
	if worst.status != "" {
		b.WriteString(" status=" + string(worst.status))
	}
	if worst.miss != "" {
		b.WriteString(" missing=" + worst.miss)
	}
	fmt.Fprintf(&b, "; %d of %d over thresholds", over, len(rows))
	if unknown > 0 {
		fmt.Fprintf(&b, ", %d unknown", unknown)
	}
	return sevStatus[worst.sev], b.String()
}

func judge(r Row, th Thresholds, statuses map[string]Status) verdict {
	v := verdict{row: r}
	raise := func(s severity) { v.sev = max(v.sev, s) }
	if !r.CountsKnown() {
		// A queue the management API has no figures for yet: 0 would
		// read as OK.
		v.miss = "counts"
		v.sev = sevUnknown
		return v
	}
	switch {
	case th.CritLag > 0 && r.Lag >= th.CritLag:
		raise(sevCrit)
	case th.WarnLag > 0 && r.Lag >= th.WarnLag:
		raise(sevWarn)
	}
	if (th.WarnTime > 0 || th.CritTime > 0) && !th.NoTime[r.Context] {
		switch {
		case r.Lag > 0 && r.TimeLag <= 0:
			v.miss = "time_lag"
			raise(sevUnknown)
		case th.CritTime > 0 && r.TimeLag >= th.CritTime:
			raise(sevCrit)
		case th.WarnTime > 0 && r.TimeLag >= th.WarnTime:
			raise(sevWarn)
		}
	}
	if th.Rules {
		st, ok := statuses[r.Key()]
		switch {
		case !ok:
			v.miss = joinNonEmpty(v.miss, "status")
			raise(sevUnknown)
		case st.Code == Stop || st.Code == Stall || st.Code == Rewind:
			v.status = st.Code
			raise(sevCrit)
		case st.Code == Warn:
			v.status = st.Code
			raise(sevWarn)
		}
	}
	return v
}

// worse reports whether a should be named before b in the status line.
func worse(a, b verdict) bool {
	if a.sev != b.sev {
		return a.sev > b.sev
	}
	if a.row.Lag != b.row.Lag {
		return a.row.Lag > b.row.Lag
	}
	return a.row.Key() < b.row.Key()
}

// identity is the row's name as key=value fields, in the order a person
// reads them: context, then group topic partition (Kafka), queue (RabbitMQ),
// stream consumer (JetStream). Values that would break the line are quoted.
func identity(r Row) []string {
	var out []string
	add := func(k, v string) {
		if v != "" {
			out = append(out, k+"="+quoteIfNeeded(v))
		}
	}
	add("context", r.Context)
	add("group", r.Group)
	add("topic", r.Topic)
	if r.Partition >= 0 {
		add("partition", strconv.Itoa(int(r.Partition)))
	}
	add("queue", r.Queue)
	add("stream", r.Stream)
	add("consumer", r.Consumer)
	return out
}

// quoteIfNeeded quotes values with separators, quotes, backslashes or
// unprintable characters, and leaves plain names readable.
func quoteIfNeeded(s string) string {
	if strings.ContainsAny(s, " =;|") || strconv.Quote(s) != `"`+s+`"` {
		return strconv.Quote(s)
	}
	return s
}

func joinNonEmpty(a, b string) string {
	if a == "" {
		return b
	}
	return a + "," + b
}
