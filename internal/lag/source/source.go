// Package source is lag's data source, usable without cobra or cmd: the
// CLI (`mqctl lag`, one-shot, --watch, --check) and the dashboard (`mqctl
// top`) read lag through it. It never prints: warnings go to Config.Warnf.
// (It is a package of its own because internal/broker imports internal/lag.)
//
// Public API:
//
//	func Matcher(names []string, regex bool) (func(string) bool, error)
//	func Name(r lag.Row) string                 // what NAMEs select: group, queue or stream
//	func ConsumerLag(rows []lag.Row, name string, sources []string, durable string) *int64 // one consumer's summed lag
//	func MissingLine(missing []string, regex bool) string
//	func FailedNames(failures []lag.Failure) string
//
//	type Config struct {
//		Targets     []broker.Target  // resolved contexts (or one bare --url target)
//		Unresolved  []lag.Failure    // listed contexts that did not resolve: failed for the whole run
//		Multi       bool             // -c a,b or --all-contexts: a failing context is reported, not fatal
//		Names       []string         // NAME arguments (exact, or patterns with Regex)
//		Regex       bool
//		Query       broker.LagQuery  // the query of every target (Match, Names, TimeLag)
//		TimeLagFlag string           // the flag that asked for time lag, for refusals
//		Warnf       func(format string, args ...any) // warnings; nil drops them
//	}
//	func New(cfg Config) *Source
//	func (s *Source) Close()                                   // closes every cached connection
//	func (s *Source) Prepare(ctx) error                        // per-driver refusal of the query (TimeLag)
//	func (s *Source) Read(ctx) (rows []lag.Row, failures []lag.Failure, err error) // every target, concurrently, sorted
//	func (s *Source) ReadTarget(ctx, i int) ([]lag.Row, error) // target i alone (for a per-context refresh)
//	type EmptyBySetupError struct{ Err error }                 // ReadTarget's error: the broker answered, nothing to list by its setup
//	func (s *Source) Conn(ctx, i int) (broker.Conn, error)     // target i's cached connection
//	func (s *Source) Forget(i int)                             // close it: the next read dials again
//	func (s *Source) Targets() []broker.Target
//	func (s *Source) Contexts() int                            // contexts asked for (targets + unresolved)
//	func (s *Source) Multi() bool
//	func (s *Source) NoTime() map[string]bool                  // contexts whose rows have no time lag (after Prepare)
//	func (s *Source) Missing(rows []lag.Row) []string          // NAMEs that selected no row
//	func (s *Source) Report(failures []lag.Failure) *Report    // nil for a single target
//
// Connections are opened on first use and kept open across reads until
// Close; Read and ReadTarget are safe to call from several goroutines.
package source

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// Config is what a Source reads; see the package comment.
type Config struct {
	Targets     []broker.Target
	Unresolved  []lag.Failure
	Multi       bool
	Names       []string
	Regex       bool
	Query       broker.LagQuery
	TimeLagFlag string
	Warnf       func(format string, args ...any)
}

// Source reads lag rows from one or more targets, keeping connections
// open across refreshes.
type Source struct {
	targets    []broker.Target
	queries    []broker.LagQuery // per target: TimeLag off where refused
	names      []string
	regex      bool
	multi      bool
	unresolved []lag.Failure
	// noTime are the contexts whose broker has no time lag, for --check
	// time limits; timeLagFlag names the flag that asked for time lag.
	noTime      map[string]bool
	timeLagFlag string
	warnf       func(format string, args ...any)

	mu    sync.Mutex
	conns map[int]broker.Conn
}

// New is a Source over cfg's targets; it opens nothing yet.
func New(cfg Config) *Source {
	s := &Source{targets: cfg.Targets, names: cfg.Names, regex: cfg.Regex, multi: cfg.Multi,
		unresolved: cfg.Unresolved, timeLagFlag: cfg.TimeLagFlag, warnf: cfg.Warnf}
	if s.warnf == nil {
		s.warnf = func(string, ...any) {}
	}
	for range cfg.Targets {
		s.queries = append(s.queries, cfg.Query)
	}
	return s
}

// Close closes every connection opened so far.
func (s *Source) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

// Targets are the resolved targets, indexed as ReadTarget's i.
func (s *Source) Targets() []broker.Target { return s.targets }

// Contexts is how many contexts were asked for.
func (s *Source) Contexts() int { return len(s.targets) + len(s.unresolved) }

// Multi reports whether failing contexts are reported beside the others.
func (s *Source) Multi() bool { return s.multi }

// NoTime are the contexts Prepare read without time lag.
func (s *Source) NoTime() map[string]bool { return s.noTime }

// Prepare connects to every target at once and lets each driver refuse
// the query options it cannot honour (--time-lag on RabbitMQ). One target
// that refuses is a usage error; among several, only when every context
// that answered refuses, and the others are read without the option.
// A target it cannot reach is left for Read to retry and report.
func (s *Source) Prepare(ctx context.Context) error {
	if len(s.queries) == 0 || !s.queries[0].TimeLag {
		return nil
	}
	refusals := make([]error, len(s.targets))
	opened := make([]bool, len(s.targets))
	var wg sync.WaitGroup
	for i := range s.targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := s.conn(ctx, i)
			if err != nil {
				return
			}
			opened[i] = true
			// TODO(i12-capabilities): the driver answers whether it has time lag.
			if c, ok := conn.(broker.LagQueryChecker); ok {
				refusals[i] = c.CheckLagQuery(s.queries[i])
			}
		}()
	}
	wg.Wait()
	var refused, usable int
	for i, err := range refusals {
		switch {
		case err != nil:
			refused++
		case opened[i]:
			usable++
		}
	}
	if refused == 0 {
		return nil
	}
	if !s.multi {
		return mqerr.Usagef("%s does not apply%s: %v", s.timeLagFlag, s.onContext(0), refusals[0])
	}
	if usable == 0 {
		var why []string
		for i, err := range refusals {
			if err != nil {
				why = append(why, fmt.Sprintf("%s: %v", s.targets[i].Context, err))
			}
		}
		return mqerr.Usagef("%s applies to none of the contexts (%s)", s.timeLagFlag, strings.Join(why, "; "))
	}
	s.noTime = map[string]bool{}
	for i, err := range refusals {
		if err != nil {
			s.warnf("context %s: %s does not apply (%v): its rows have no time lag", s.targets[i].Context, s.timeLagFlag, err)
			s.queries[i].TimeLag = false
			s.noTime[s.targets[i].Context] = true
		}
	}
	return nil
}

// onContext is " to context NAME", or "" for a bare --url.
func (s *Source) onContext(i int) string {
	if name := s.targets[i].Context; name != "" {
		return " to context " + name
	}
	return ""
}

// Read collects the rows of every target concurrently. With one target
// (not Multi) its error is the read's; with several, a failing context
// is warned about and listed in failures, and the others' rows returned.
func (s *Source) Read(ctx context.Context) (rows []lag.Row, failures []lag.Failure, err error) {
	type result struct {
		rows []lag.Row
		err  error
	}
	results := make([]result, len(s.targets))
	var wg sync.WaitGroup
	for i := range s.targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows, err := s.ReadTarget(ctx, i)
			results[i] = result{rows, err}
		}()
	}
	wg.Wait()
	if !s.multi {
		// Its error is the read's, and its rows (50,000 at times)
		// need no copy.
		if err := results[0].err; err != nil {
			return nil, nil, err
		}
		lag.Sort(results[0].rows)
		return results[0].rows, nil, nil
	}
	failures = append(failures, s.unresolved...)
	var firstErr error
	for i, r := range results {
		if r.err != nil {
			name := s.targets[i].Context
			s.warnf("context %s: %v", name, r.err)
			failures = append(failures, lag.NewFailure(name, r.err))
			firstErr = cmp.Or(firstErr, r.err)
			continue
		}
		rows = append(rows, r.rows...)
	}
	if len(failures) == s.Contexts() {
		return nil, failures, fmt.Errorf("no context answered: %s: %w", FailedNames(failures), firstErr)
	}
	lag.Sort(rows)
	return rows, failures, nil
}

// conn is target i's connection, opened on first use.
func (s *Source) conn(ctx context.Context, i int) (broker.Conn, error) {
	s.mu.Lock()
	conn := s.conns[i]
	s.mu.Unlock()
	if conn != nil {
		return conn, nil
	}
	conn, err := broker.Open(ctx, s.targets[i])
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.conns[i]; old != nil {
		// Another reader of target i opened it first.
		conn.Close()
		return old, nil
	}
	if s.conns == nil {
		s.conns = map[int]broker.Conn{}
	}
	s.conns[i] = conn
	return conn, nil
}

// ReadTarget reads target i alone, unsorted, its rows labelled with the
// context name; its error names no secret of the target.
func (s *Source) ReadTarget(ctx context.Context, i int) ([]lag.Row, error) {
	t := s.targets[i]
	conn, err := s.conn(ctx, i)
	if err != nil {
		return nil, err
	}
	reader, err := broker.As[broker.LagReader](conn, "lag")
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, t.EffectiveTimeout())
	defer cancel()
	rows, err := reader.Lag(rctx, s.queries[i])
	if err != nil {
		// A fresh bound: a management API timeout used up rctx.
		fctx, fcancel := context.WithTimeout(ctx, t.EffectiveTimeout())
		defer fcancel()
		rows, err = s.fallback(fctx, conn, err)
	}
	if err == nil && len(rows) == 0 {
		if ex, ok := conn.(broker.EmptyExplainer); ok {
			ectx, ecancel := context.WithTimeout(ctx, t.EffectiveTimeout())
			defer ecancel()
			if why := ex.WhyEmpty(ectx); why != nil {
				// Scrubbed inside: Scrub would drop the type.
				return nil, &EmptyBySetupError{Err: broker.Scrub(why, t.Secrets()...)}
			}
		}
	}
	if err != nil {
		return nil, broker.Scrub(err, t.Secrets()...)
	}
	for j := range rows {
		if s.multi || t.Context != "" {
			rows[j].Context = t.Context
		}
	}
	return rows, nil
}

// EmptyBySetupError is ReadTarget's error for a broker that answered and
// has nothing to list by its setup, not by its data
// (broker.EmptyExplainer): NATS without JetStream has no streams or
// consumers. Err is the driver's explanation, whose text and exit code
// lag reports unchanged; serve tells it from a broker that did not answer.
type EmptyBySetupError struct{ Err error }

func (e *EmptyBySetupError) Error() string { return e.Err.Error() }
func (e *EmptyBySetupError) Unwrap() error { return e.Err }

// fallback reads destinations by name when the broker cannot list them now
// (RabbitMQ without its management API: AMQP cannot enumerate queues).
func (s *Source) fallback(ctx context.Context, conn broker.Conn, err error) ([]lag.Row, error) {
	byName, ok := conn.(broker.NamedLagReader)
	if !ok || !errors.Is(err, broker.ErrCannotList) {
		return nil, err
	}
	if len(s.names) == 0 || s.regex {
		// The driver's error already says to name the queues.
		return nil, err
	}
	s.warnf("management API unreachable: reading ready and consumers over AMQP (no unacked, no rates)")
	return byName.LagByName(ctx, s.names)
}

// Missing lists the NAMEs (or --regex patterns) that selected no row.
func (s *Source) Missing(rows []lag.Row) []string {
	var out []string
	for _, n := range s.names {
		one, _ := Matcher([]string{n}, s.regex)
		if !slices.ContainsFunc(rows, func(r lag.Row) bool { return one(Name(r)) }) {
			out = append(out, n)
		}
	}
	return out
}

// Report is what a multi-context read adds to the rows: the contexts
// that failed, and whether each context answered (for Prometheus).
type Report struct {
	Failures []lag.Failure
	Up       map[string]bool
}

// Report is the Report of a read with these failures; nil for a single
// target, whose failure is the read's.
func (s *Source) Report(failures []lag.Failure) *Report {
	if !s.multi {
		return nil
	}
	r := &Report{Failures: failures, Up: map[string]bool{}}
	for _, t := range s.targets {
		r.Up[t.Context] = true
	}
	for _, fl := range failures {
		r.Up[fl.Context] = false
	}
	return r
}

// Matcher selects names exactly or by regular expression; nil = all.
func Matcher(names []string, regex bool) (func(string) bool, error) {
	if len(names) == 0 {
		return nil, nil
	}
	if !regex {
		set := map[string]bool{}
		for _, n := range names {
			set[n] = true
		}
		return func(s string) bool { return set[s] }, nil
	}
	var res []*regexp.Regexp
	for _, n := range names {
		re, err := regexp.Compile(n)
		if err != nil {
			return nil, mqerr.Usagef("--regex %q: %v", n, err)
		}
		res = append(res, re)
	}
	return func(s string) bool {
		for _, re := range res {
			if re.MatchString(s) {
				return true
			}
		}
		return false
	}, nil
}

// Name is what NAMEs select: the group, queue or stream.
func Name(r lag.Row) string { return cmp.Or(r.Group, r.Queue, r.Stream) }

// ConsumerLag sums the known lag of the rows of name that belong to one
// consumer: on rows that name a topic, only those of sources; on rows that
// name a consumer, only durable's. It is nil when no such row tells (no
// row, or only rows without figures).
func ConsumerLag(rows []lag.Row, name string, sources []string, durable string) *int64 {
	var sum int64
	n := 0
	for _, r := range rows {
		if Name(r) != name || r.Stats == lag.StatsAbsent ||
			(r.Topic != "" && !slices.Contains(sources, r.Topic)) ||
			(r.Consumer != "" && r.Consumer != durable) {
			continue
		}
		sum += r.Lag
		n++
	}
	if n == 0 {
		return nil
	}
	return &sum
}

// MissingLine is the error text for NAMEs that selected nothing.
func MissingLine(missing []string, regex bool) string {
	quoted := make([]string, len(missing))
	for i, m := range missing {
		quoted[i] = strconv.Quote(m)
	}
	if regex {
		return fmt.Sprintf("no consumer group, queue or stream matches %s", strings.Join(quoted, ", "))
	}
	return fmt.Sprintf("nothing to report for %s: no consumer group or queue by that name, nor a JetStream stream with consumers", strings.Join(quoted, ", "))
}

// FailedNames joins the failed contexts' names.
func FailedNames(failures []lag.Failure) string {
	names := make([]string, len(failures))
	for i, fl := range failures {
		names[i] = fl.Context
	}
	return strings.Join(names, ", ")
}
