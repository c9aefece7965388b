// Package doctor runs `mqctl doctor`: for each context it connects, reports
// how far the connection got (reached, TLS, credentials), then asks the
// driver (broker.Diagnoser) for what only it can tell: the broker's
// version, its plugins and the permissions each command needs. Every
// check is read-only and bounded by the context's timeout.
package doctor

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

// Report is what doctor found for one context.
type Report struct {
	Context string `json:"context" yaml:"context"`
	Broker  string `json:"broker,omitempty" yaml:"broker,omitempty"`
	// URL is redacted: it never carries a password.
	URL    string             `json:"url,omitempty" yaml:"url,omitempty"`
	Checks []broker.Diagnosis `json:"checks" yaml:"checks"`
}

// Failed reports whether any check of any report failed: something a
// command needs is missing.
func Failed(reports []Report) bool { return len(FailedContexts(reports)) > 0 }

// FailedContexts names the contexts with a failed check, in order.
func FailedContexts(reports []Report) []string {
	var names []string
	for _, r := range reports {
		for _, c := range r.Checks {
			if c.Status == broker.StatusFail {
				names = append(names, r.Context)
				break
			}
		}
	}
	return names
}

// Unresolved is a context whose settings did not resolve into a target
// (a password_env that is not set, say).
type Unresolved struct {
	Context string
	Error   string
}

// Run checks every target at once and returns one report per target, then
// one per unresolved context, in the order given. Each target is bounded
// by its own timeout for connecting and again for the driver's checks, so
// a broker that does not answer costs at most twice its timeout.
func Run(ctx context.Context, targets []broker.Target, unresolved []Unresolved) []Report {
	reports := make([]Report, len(targets), len(targets)+len(unresolved))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reports[i] = Check(ctx, t)
		}()
	}
	wg.Wait()
	for _, u := range unresolved {
		reports = append(reports, Report{Context: u.Context, Checks: []broker.Diagnosis{
			{Check: "config", Status: broker.StatusFail, Detail: oneLine(u.Error)},
		}})
	}
	return reports
}

// Check connects to t and runs its driver's checks.
func Check(ctx context.Context, t broker.Target) Report {
	r := Report{Context: t.Context, URL: t.Redacted()}
	if r.Context == "" {
		r.Context = "(--url)"
	}
	// The URL's scheme names the broker before anything is reached: a
	// report of refused credentials still says which broker refused them.
	if c, ok := broker.DriverCapabilities(t.URL); ok {
		r.Broker = c.Name
	}
	secrets := t.Secrets()
	conn, err := broker.Open(ctx, t)
	if err != nil {
		r.Checks = openFailure(err, secrets)
		return r
	}
	defer conn.Close()
	r.Broker = conn.Broker()
	r.Checks = []broker.Diagnosis{
		{Check: broker.CheckConnect, Status: broker.StatusOK, Detail: "reached"},
	}
	d, ok := conn.(broker.Diagnoser)
	if !ok {
		r.Checks = append(r.Checks, broker.Diagnosis{Check: broker.CheckAuth, Status: broker.StatusOK, Detail: "accepted"},
			broker.Diagnosis{Check: "checks", Status: broker.StatusUnknown, Detail: "this driver has no doctor checks"})
		return r
	}
	dctx, cancel := context.WithTimeout(ctx, t.EffectiveTimeout())
	defer cancel()
	for _, c := range diagnose(dctx, d, t.EffectiveTimeout()+grace) {
		c.Detail = oneLine(c.ScrubbedDetail(secrets...))
		r.Checks = append(r.Checks, c)
	}
	return r
}

// grace is how long past its deadline a driver has to report the checks
// that ran out of time.
const grace = time.Second

// diagnose runs d's checks and returns within bound even if a driver
// does not honour ctx: a check that hangs is UNKNOWN, not a hung doctor.
func diagnose(ctx context.Context, d broker.Diagnoser, bound time.Duration) []broker.Diagnosis {
	done := make(chan []broker.Diagnosis, 1)
	go func() { done <- d.Diagnose(ctx) }()
	timer := time.NewTimer(bound)
	defer timer.Stop()
	select {
	case ds := <-done:
		return ds
	case <-timer.C:
		return []broker.Diagnosis{{Check: "checks", Status: broker.StatusUnknown, Detail: "timed out after " + bound.String()}}
	}
}

// openFailure says which stage of connecting failed: the broker was not
// reached, it refused the credentials, or TLS did not verify.
func openFailure(err error, secrets []string) []broker.Diagnosis {
	msg := oneLine(broker.ScrubString(err.Error(), secrets...))
	switch {
	case mqerr.Is(err, mqerr.Auth):
		return []broker.Diagnosis{
			{Check: broker.CheckConnect, Status: broker.StatusOK, Detail: "reached"},
			{Check: broker.CheckAuth, Status: broker.StatusFail, Detail: msg},
		}
	case mqerr.Is(err, mqerr.Usage):
		return []broker.Diagnosis{{Check: "config", Status: broker.StatusFail, Detail: msg}}
	case strings.Contains(msg, "TLS"):
		// Every driver names TLS in a handshake or verification failure.
		return []broker.Diagnosis{
			{Check: broker.CheckConnect, Status: broker.StatusOK, Detail: "reached"},
			{Check: broker.CheckTLS, Status: broker.StatusFail, Detail: msg},
		}
	}
	return []broker.Diagnosis{{Check: broker.CheckConnect, Status: broker.StatusFail, Detail: msg}}
}

// Table shapes reports as one table, a row per check, coloured by status.
func Table(reports []Report) output.Table {
	t := output.Table{Header: []string{"CONTEXT", "BROKER", "CHECK", "STATUS", "DETAIL"}}
	for _, r := range reports {
		for _, c := range r.Checks {
			t.Rows = append(t.Rows, []string{r.Context, dash(r.Broker), c.Check, string(c.Status), dash(c.Detail)})
			t.Colors = append(t.Colors, []string{"", "", "", statusColor[c.Status], ""})
		}
	}
	return t
}

var statusColor = map[broker.Status]string{
	broker.StatusOK:      "32",
	broker.StatusWarn:    "33",
	broker.StatusFail:    "31;1",
	broker.StatusUnknown: "2",
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a detail on one table row.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
