package dlq

import (
	"regexp"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/match"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// Filter selects dead letters: by message (--grep, --header), by why they
// died (--reason), by age (--older-than, --newer-than) and by where they
// came from (--original).
type Filter struct {
	Message   *match.Filter
	Reason    *regexp.Regexp
	OlderThan time.Duration
	NewerThan time.Duration
	Original  string
	// Now anchors the ages.
	Now time.Time
}

// NewFilter compiles the dlq filter flags.
func NewFilter(grep string, headers []string, reason string, olderThan, newerThan time.Duration, original string, now time.Time) (*Filter, error) {
	mf, err := match.New(grep, "", headers)
	if err != nil {
		return nil, err
	}
	f := &Filter{Message: mf, OlderThan: olderThan, NewerThan: newerThan, Original: original, Now: now}
	if reason != "" {
		if f.Reason, err = regexp.Compile("(?i)" + reason); err != nil {
			return nil, mqerr.Usagef("--reason: %v", err)
		}
	}
	if olderThan < 0 || newerThan < 0 {
		return nil, mqerr.Usagef("--older-than and --newer-than want a positive duration")
	}
	if olderThan > 0 && newerThan > 0 && olderThan >= newerThan {
		return nil, mqerr.Usagef("--older-than %s with --newer-than %s selects nothing: a dead letter cannot be both", olderThan, newerThan)
	}
	return f, nil
}

// Empty reports whether the filter selects everything.
func (f *Filter) Empty() bool {
	return f == nil || f.Message.Empty() && f.Reason == nil && f.OlderThan == 0 && f.NewerThan == 0 && f.Original == ""
}

// Match reports whether dead letter m with origin o is selected. m is
// nil for an advisory whose message is gone: only filters on the origin
// can select it.
func (f *Filter) Match(m *broker.Message, o Origin) bool {
	if f.Empty() {
		return true
	}
	if m == nil {
		if !f.Message.Empty() {
			return false
		}
		m = &broker.Message{}
	}
	if !f.Message.Match(m) {
		return false
	}
	if f.Reason != nil && !f.Reason.MatchString(o.Reason) {
		return false
	}
	if f.Original != "" && f.Original != o.Destination && f.Original != o.Stream {
		return false
	}
	if f.OlderThan > 0 || f.NewerThan > 0 {
		died := DeathTime(m, o)
		if died.IsZero() {
			return false
		}
		age := f.Now.Sub(died)
		if f.OlderThan > 0 && age < f.OlderThan || f.NewerThan > 0 && age > f.NewerThan {
			return false
		}
	}
	return true
}

// DeathTime is when m died: the newest recorded death, or else the dead
// letter's own timestamp (Spring and Connect record no death time).
func DeathTime(m *broker.Message, o Origin) time.Time {
	if !o.LastDeath.IsZero() {
		return o.LastDeath
	}
	return m.Timestamp
}
