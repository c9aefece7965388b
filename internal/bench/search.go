package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/mqctl/mqctl/internal/output"
)

// RateSearch is `--rate max --p99-under D`: the highest fixed rate whose
// p99 publish→confirm (measured from the intended send times) stays under
// Bound. As the OpenMessaging Benchmark does, a first unlimited step
// finds the ceiling; the search then halves down from it until a step
// passes and bisects between the last pass and the first failure.
type RateSearch struct {
	Bound time.Duration
	// MaxSteps bounds the fixed-rate steps (default 10).
	MaxSteps int
	// Tolerance ends the search when the gap between the best pass and
	// the lowest failure is this fraction of the failure (default 0.05).
	Tolerance float64
}

// StepOutcome is what one step measured.
type StepOutcome struct {
	Achieved   float64 // confirmed msgs/s
	ConfirmP99 int64   // µs
	Failed     int64
	Lost       int64
}

// StepOf is what run r measured as a step of the search. The rate it kept
// is what it sent over its sending time: the schedule's length, or longer
// when a producer fell behind and sent its last messages late (every
// message of the schedule is sent, so over the schedule's length alone
// each step would keep its rate). The wait for the last confirms after
// that is not sending time: on a short step it would make every rate look
// missed.
func StepOf(r *Result) StepOutcome {
	o := StepOutcome{ConfirmP99: r.Confirm.ValueAtQuantile(99), Failed: r.Failed, Lost: r.Lost}
	if span := max(r.SendElapsed, r.Workload.Warmup+r.Workload.Duration); span > 0 {
		o.Achieved = float64(r.Sent) / span.Seconds()
	}
	return o
}

// Step is one step of a search as reported: Rate 0 is the unlimited step.
type Step struct {
	Rate       float64 `json:"rate"`
	Achieved   float64 `json:"achieved_msgs_per_sec"`
	ConfirmP99 int64   `json:"confirm_p99_us"`
	Passed     bool    `json:"passed"`
	Why        string  `json:"why,omitempty"`
}

// SearchResult is the search's kept form (-o json).
type SearchResult struct {
	V        int      `json:"v"`
	Broker   string   `json:"broker"`
	BoundUS  int64    `json:"p99_under_us"`
	Found    bool     `json:"found"`
	BestRate float64  `json:"best_rate"`
	Workload Workload `json:"workload"`
	Steps    []Step   `json:"steps"`
}

// minRate is where halving gives up: below one message a second there is
// no rate worth reporting.
const minRate = 1

// Run searches, calling step for each rate (0: unlimited) and report after
// each step. It stops early when ctx ends or step fails.
func (s RateSearch) Run(ctx context.Context, step func(ctx context.Context, rate float64) (StepOutcome, error), report func(Step)) (SearchResult, error) {
	if s.MaxSteps == 0 {
		s.MaxSteps = 10
	}
	if s.Tolerance == 0 {
		s.Tolerance = 0.05
	}
	res := SearchResult{V: 1, BoundUS: s.Bound.Microseconds()}
	try := func(rate float64) (bool, error) {
		o, err := step(ctx, rate)
		if err != nil {
			return false, err
		}
		st := s.judge(rate, o)
		res.Steps = append(res.Steps, st)
		if report != nil {
			report(st)
		}
		if st.Passed && rate > res.BestRate {
			res.Found, res.BestRate = true, rate
		}
		return st.Passed, ctx.Err()
	}
	if _, err := try(0); err != nil {
		return res, err
	}
	ceiling := res.Steps[0].Achieved
	if ceiling < minRate {
		return res, nil
	}
	lo, hi := 0.0, 0.0 // best pass, lowest failure (0: none yet)
	rate := ceiling
	for n := 0; n < s.MaxSteps && rate >= minRate; n++ {
		ok, err := try(rate)
		if err != nil {
			return res, err
		}
		if ok {
			lo = rate
		} else {
			hi = rate
		}
		switch {
		case ok && hi == 0: // passed at the ceiling: nothing higher to try
			return res, nil
		case lo == 0: // nothing passed yet: halve
			rate = hi / 2
		default:
			if (hi-lo)/hi <= s.Tolerance {
				return res, nil
			}
			rate = (lo + hi) / 2
		}
	}
	return res, nil
}

// judge says whether a step at rate passed: p99 under the bound, nothing
// failed or lost, and the rate kept (a producer that fell behind its
// schedule did not run at that rate). The unlimited step has no rate to
// keep.
func (s RateSearch) judge(rate float64, o StepOutcome) Step {
	st := Step{Rate: rate, Achieved: o.Achieved, ConfirmP99: o.ConfirmP99}
	switch {
	case o.Lost > 0:
		st.Why = fmt.Sprintf("%d lost", o.Lost)
	case o.Failed > 0:
		st.Why = fmt.Sprintf("%d failed", o.Failed)
	case o.ConfirmP99 > s.Bound.Microseconds():
		st.Why = fmt.Sprintf("p99 %s over %s", us(o.ConfirmP99), s.Bound)
	case rate > 0 && o.Achieved < 0.95*rate:
		st.Why = fmt.Sprintf("kept only %.0f msg/s", o.Achieved)
	default:
		st.Passed = true
	}
	return st
}

// StepLine is a step as the live stderr line shows it.
func StepLine(n int, st Step) string {
	rate := "unlimited"
	if st.Rate > 0 {
		rate = fmt.Sprintf("%.0f msg/s", st.Rate)
	}
	verdict := "pass"
	if !st.Passed {
		verdict = "fail: " + st.Why
	}
	return fmt.Sprintf("step %d  rate %s  achieved %.0f msg/s  confirm p99 %s  %s", n, rate, st.Achieved, us(st.ConfirmP99), verdict)
}

// Table shows the steps, then the answer.
func (r SearchResult) Table() output.Table {
	t := output.Table{Header: []string{"STEP", "RATE", "ACHIEVED", "CONFIRM P99", "RESULT"}}
	for i, st := range r.Steps {
		rate, verdict := "unlimited", "pass"
		if st.Rate > 0 {
			rate = fmt.Sprintf("%.0f/s", st.Rate)
		}
		if !st.Passed {
			verdict = "fail: " + st.Why
		}
		t.Rows = append(t.Rows, []string{fmt.Sprint(i), rate, fmt.Sprintf("%.0f/s", st.Achieved), us(st.ConfirmP99), verdict})
	}
	best := "none"
	if r.Found {
		best = fmt.Sprintf("%.0f/s", r.BestRate)
	}
	t.Rows = append(t.Rows, []string{"best", best, "", "", "p99 publish→confirm under " + us(r.BoundUS)})
	return t
}
