package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/dlq"
	"github.com/mqctl/mqctl/internal/envelope"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

// dlqRow is one line of `dlq ls`.
type dlqRow struct {
	broker.DeadLetterDestination `yaml:",inline"`
	TopReasons                   []dlq.Count `json:"top_reasons,omitempty" yaml:"top_reasons,omitempty"`
	// Sampled is how many dead letters the reasons were read from.
	Sampled int `json:"sampled,omitempty" yaml:"sampled,omitempty"`
	// notRead: it holds dead letters that were not read (RabbitMQ
	// without --sample), so TOP REASONS says so instead of "-".
	notRead bool
}

func newDLQLsCmd(f *Factory) *cobra.Command {
	var patterns []string
	var sample int
	var check, scanHeads bool
	var th dlq.CheckThresholds
	c := &cobra.Command{
		Use:   "ls",
		Short: "List dead-letter queues, topics and streams with depth, oldest age and top reasons",
		Long: `List the context's dead-letter destinations: RabbitMQ queues bound to a dead-letter exchange
named in any queue's arguments or policies, or named like DLQs, and with --scan-heads queues
holding x-death messages; Kafka topics matching --pattern (default *.DLT, *-dlt, *.dlq, *-dlq,
*.DLQ, dlq.*); JetStream streams capturing MAX_DELIVERIES / MSG_TERMINATED advisories or named
like DLQs.

Top reasons come from reading the first --sample dead letters of each, without side effects on
Kafka and JetStream. On RabbitMQ reading marks messages redelivered, so it is only done when
asked: --sample for the reasons, --scan-heads to read the first message of every classic queue
that has messages and no consumer, and list it when that message is a dead letter (left where no
dead-letter exchange leads any more, or moved there by hand). The message is put back in its
place at once. Quorum queues are not read: a return counts toward their delivery limit.`,
		Example: `  mqctl dlq ls
  mqctl dlq ls --scan-heads                  # RabbitMQ: also find queues holding x-death messages
  mqctl dlq ls --pattern '*.errors' -o json
  mqctl dlq ls --check --warn 1 --crit 1000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkThresholds(cmd, check, th); err != nil {
				return checkErr(f, check, err)
			}
			if sample < 0 {
				return checkErr(f, check, mqerr.Usagef("--sample %d: want 0 (none) or more", sample))
			}
			query := broker.DeadLetterQuery{Patterns: patterns, ScanHeads: scanHeads}
			return checkErr(f, check, dlqLs(cmd, f, query, sample, check, th))
		},
	}
	fl := c.Flags()
	fl.StringArrayVar(&patterns, "pattern", nil, "glob for dead-letter topic and stream names (repeatable; default: the usual DLQ names)")
	fl.IntVar(&sample, "sample", 20, "read this many dead letters of each for the top reasons (0: none)")
	fl.BoolVar(&scanHeads, "scan-heads", false, "RabbitMQ: also list classic queues without consumers whose first message is a dead letter (x-death); reading marks it redelivered")
	fl.BoolVar(&check, "check", false, "exit with Nagios codes by the deepest dead-letter destination")
	fl.Int64Var(&th.Warn, "warn", 0, "--check: WARN at this many dead letters")
	fl.Int64Var(&th.Crit, "crit", 0, "--check: CRIT at this many dead letters")
	return c
}

func dlqLs(cmd *cobra.Command, f *Factory, query broker.DeadLetterQuery, sample int, check bool, th dlq.CheckThresholds) error {
	ctx := cmd.Context()
	format, err := f.Format()
	if err != nil {
		return err
	}
	if err := query.Check(); err != nil {
		return err
	}
	conn, t, err := f.Open(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := refuseFlags(cmd, conn.Broker(), map[string]string{"scan-heads": "rabbitmq"}); err != nil {
		return err
	}
	if err := checkHeld(conn.Broker(), "sample", sample); err != nil {
		return err
	}
	finder, err := broker.As[broker.DeadLetters](conn, "finding dead letters")
	if err != nil {
		return err
	}
	lctx, cancel := withTimeout(ctx, t)
	dests, err := finder.DeadLetterDestinations(lctx, query)
	cancel()
	if err != nil {
		return err
	}
	// Reading a RabbitMQ queue marks what it returns redelivered: only
	// when asked.
	notRead := conn.Broker() == "rabbitmq" && !cmd.Flags().Changed("sample")
	if notRead {
		sample = 0
	}
	rows := make([]dlqRow, len(dests))
	warned := false
	for i, d := range dests {
		rows[i] = dlqRow{DeadLetterDestination: d, notRead: notRead && d.Messages > 0}
		if t.Context != "" {
			rows[i].Context = t.Context
		}
		if rows[i].notRead && !warned {
			warned = true
			f.Warnf("RabbitMQ dead letters are not read for their reasons unless asked, as reading marks them redelivered: --sample N reads the first N of each")
		}
		// Read even where the listing says 0: RabbitMQ's statistics can be
		// seconds older than the queue, and reading an empty source costs
		// little and changes nothing.
		if sample > 0 {
			src := &dlqSource{conn: conn, target: t, name: d.Name}
			st := sampleReasons(ctx, f, src, sample)
			rows[i].TopReasons, rows[i].Sampled = st.Reasons.Top(3), int(st.Total)
			if rows[i].Oldest.IsZero() && src.broker() != "rabbitmq" {
				// Kafka and JetStream read from the start: the first
				// dead letters read are the oldest.
				rows[i].Oldest = st.Oldest()
			}
		}
	}
	if check {
		depths := make([]dlq.Depth, len(rows))
		for i, r := range rows {
			depths[i] = dlq.Depth{Name: r.Name, Messages: r.Messages}
		}
		code, line := dlq.Check(depths, th)
		fmt.Fprintln(f.IO.Out, line)
		if err := printDLQRows(f, format, rows); err != nil {
			return err
		}
		return &exitError{code: code.Code()}
	}
	return printDLQRows(f, format, rows)
}

func printDLQRows(f *Factory, format output.Format, rows []dlqRow) error {
	now := time.Now()
	return output.List(f.IO, format, rows, func(rs []dlqRow) output.Table {
		t := output.Table{Header: []string{"TYPE", "NAME", "MESSAGES", "OLDEST", "TOP REASONS", "WHY"}}
		for _, r := range rs {
			var reasons []string
			for _, c := range r.TopReasons {
				reasons = append(reasons, fmt.Sprintf("%s (%d)", reasonCell(c.Key, 40), c.Count))
			}
			top := orDash(strings.Join(reasons, ", "))
			if r.notRead {
				top = "(not read: --sample N)"
			}
			t.Rows = append(t.Rows, []string{r.Type, r.Name, strconv.FormatInt(r.Messages, 10), age(now, r.Oldest), top, r.Why})
		}
		return t
	})
}

// sampleReasons reads up to n dead letters of src without side effects
// (as far as the broker allows) and returns their stats.
func sampleReasons(ctx context.Context, f *Factory, src *dlqSource, n int) *dlq.Stats {
	st := dlq.NewStats(time.Now())
	c, err := src.consumer(ctx, f, readPeek, "", n)
	if err != nil {
		f.Warnf("reading %s for reasons: %v", src.name, broker.Scrub(err, src.target.Secrets()...))
		return st
	}
	defer c.Close()
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// A sample: whatever came in time.
	if err := tally(rctx, c, src, st, n); err != nil && rctx.Err() == nil {
		f.Warnf("reading %s for reasons: %v", src.name, broker.Scrub(err, src.target.Secrets()...))
	}
	return st
}

// tally adds the dead letters c delivers to st, read as every dlq command
// reads them, until it has limit (0: no limit) or c is exhausted; the
// error is c's, ctx's, or the one of following an advisory. Advisories
// are followed to their messages by followers round trips at a time,
// each of which needs only the decoded origin, so deliveries are never
// read off the reading goroutine.
func tally(ctx context.Context, c broker.Consumer, src *dlqSource, st *dlq.Stats, limit int) error {
	const followers = 16
	type job struct {
		origin dlq.Origin
		died   time.Time
	}
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		errOnce sync.Once
		failed  error
	)
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan job)
	get := src.getter()
	for range followers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				dead, err := dlq.Follow(fctx, dlq.Dead{Origin: j.origin}, get)
				if err != nil && !mqerr.Is(err, mqerr.Usage) {
					errOnce.Do(func() { failed = err; cancel() })
					continue
				}
				mu.Lock()
				st.Add(dead.Origin, j.died)
				mu.Unlock()
			}
		}()
	}
	var readErr error
	for n := 0; limit == 0 || n < limit; n++ {
		d, err := c.Next(fctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		o := dlq.DecodeOrigin(src.broker(), &d.Message)
		j := job{origin: o, died: dlq.DeathTime(&d.Message, o)}
		if o.Convention != dlq.ConventionAdvisory {
			mu.Lock()
			st.Add(j.origin, j.died)
			mu.Unlock()
			continue
		}
		select {
		case jobs <- j:
		case <-fctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	if failed != nil {
		return failed
	}
	return readErr
}

// peekItem is one dead letter as `dlq peek` prints it.
type peekItem struct {
	Message envelope.Envelope `json:"message" yaml:"message"`
	Origin  dlq.Origin        `json:"origin" yaml:"origin"`
	// Original is the message a JetStream advisory points to; Gone says
	// limits removed it.
	Original *envelope.Envelope `json:"original,omitempty" yaml:"original,omitempty"`
	Gone     bool               `json:"original_gone,omitempty" yaml:"original_gone,omitempty"`
}

func newDLQPeekCmd(f *Factory) *cobra.Command {
	var n int
	c := &cobra.Command{
		Use:   "peek SOURCE",
		Short: "Show dead letters, decoded, without consuming them",
		Long: `Show the first dead letters of SOURCE with why they died, how often, when, and where they came
from. Nothing is acked or committed. On RabbitMQ the messages are read and returned, which marks
them redelivered; mqctl says so. For a JetStream advisory stream the message each advisory points
to is fetched from its stream, or reported as gone when limits removed it.`,
		Example: `  mqctl dlq peek orders.DLT -n 5
  mqctl dlq peek orders.dlq -o jsonl`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return dlqPeek(cmd.Context(), f, args[0], n)
		},
	}
	c.Flags().IntVarP(&n, "count", "n", 10, "how many dead letters to show")
	return c
}

func dlqPeek(ctx context.Context, f *Factory, name string, n int) error {
	format, err := f.Format()
	if err != nil {
		return err
	}
	if n < 1 {
		return mqerr.Usagef("--count %d: want 1 or more", n)
	}
	src, err := openDLQSource(ctx, f, name)
	if err != nil {
		return err
	}
	defer src.Close()
	if err := checkHeld(src.broker(), "count", n); err != nil {
		return err
	}
	c, err := src.consumer(ctx, f, readPeek, "", n)
	if err != nil {
		return err
	}
	get := src.getter()
	var items []peekItem
	for len(items) < n {
		d, err := c.Next(ctx)
		if errors.Is(err, io.EOF) || ctx.Err() != nil {
			break
		}
		if err != nil {
			c.Close()
			return err
		}
		dead, err := dlq.Inspect(ctx, src.broker(), &d.Message, get)
		if err != nil {
			f.Warnf("%s: %v", d.Where(), err)
		}
		it := peekItem{Message: envelope.FromMessage(src.broker(), &d.Message), Origin: dead.Origin, Gone: dead.Gone}
		if dead.Message != nil && dead.Message != &d.Message {
			e := envelope.FromMessage("nats", dead.Message)
			it.Original = &e
		}
		items = append(items, it)
	}
	if err := c.Close(); err != nil {
		return err
	}
	now := time.Now()
	return output.List(f.IO, format, items, func(is []peekItem) output.Table {
		t := output.Table{Header: []string{"AT", "DIED", "REASON", "COUNT", "ORIGINAL", "KEY", "VALUE"}}
		for _, it := range is {
			o := it.Origin
			val := valueText(it.Message)
			if it.Original != nil {
				val = valueText(*it.Original)
			}
			if it.Gone {
				val = "(original gone)"
			}
			died := o.LastDeath
			if died.IsZero() && it.Message.Timestamp != "" {
				died, _ = time.Parse(time.RFC3339Nano, it.Message.Timestamp)
			}
			t.Rows = append(t.Rows, []string{position(it.Message), age(now, died), orDash(reasonCell(o.Reason, 50)),
				orDash(countText(o.Count)), orDash(originText(o)), orDash(clipText(keyText(it.Message), 20)), clipText(val, 60)})
		}
		return t
	})
}

func newDLQStatsCmd(f *Factory) *cobra.Command {
	var sample int
	var check bool
	var th dlq.CheckThresholds
	c := &cobra.Command{
		Use:   "stats SOURCE",
		Short: "Count dead letters by reason, original destination and error, with an age histogram",
		Long: `Read every dead letter SOURCE holds, without side effects on Kafka and JetStream, and count them
by reason, original destination and exception class, with an age histogram. Memory stays bounded
whatever the size. On RabbitMQ reading marks messages redelivered and at most --sample are read.`,
		Example: `  mqctl dlq stats orders.DLT
  mqctl dlq stats orders.dlq -o json
  mqctl dlq stats orders.DLT --check --warn 10 --crit 100`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkThresholds(cmd, check, th); err != nil {
				return checkErr(f, check, err)
			}
			if sample < 1 || sample > amqpMaxHeld {
				return checkErr(f, check, mqerr.Usagef("--sample %d: want 1 to %d (RabbitMQ holds what it reads unacked, and basic.qos is 16 bits)", sample, amqpMaxHeld))
			}
			return checkErr(f, check, dlqStats(cmd, f, args[0], sample, check, th))
		},
	}
	c.Flags().IntVar(&sample, "sample", 10000, "RabbitMQ: read at most this many, 1 to 65535 (they are held unacked, then returned)")
	c.Flags().BoolVar(&check, "check", false, "exit with Nagios codes by the number of dead letters")
	c.Flags().Int64Var(&th.Warn, "warn", 0, "--check: WARN at this many dead letters")
	c.Flags().Int64Var(&th.Crit, "crit", 0, "--check: CRIT at this many dead letters")
	return c
}

// statsReport is `dlq stats` as data.
type statsReport struct {
	Source  string `json:"source" yaml:"source"`
	Total   int64  `json:"total" yaml:"total"`
	Sampled bool   `json:"sampled,omitempty" yaml:"sampled,omitempty"`
	// Depth is the source's message count when only a sample was read.
	Depth        int64        `json:"depth,omitempty" yaml:"depth,omitempty"`
	Oldest       time.Time    `json:"oldest,omitzero" yaml:"oldest,omitempty"`
	Newest       time.Time    `json:"newest,omitzero" yaml:"newest,omitempty"`
	Reasons      []dlq.Count  `json:"reasons" yaml:"reasons"`
	Destinations []dlq.Count  `json:"destinations" yaml:"destinations"`
	Exceptions   []dlq.Count  `json:"exceptions,omitempty" yaml:"exceptions,omitempty"`
	Ages         []dlq.Bucket `json:"ages" yaml:"ages"`
}

func dlqStats(cmd *cobra.Command, f *Factory, name string, sample int, check bool, th dlq.CheckThresholds) error {
	ctx := cmd.Context()
	format, err := f.Format()
	if err != nil {
		return err
	}
	src, err := openDLQSource(ctx, f, name)
	if err != nil {
		return err
	}
	defer src.Close()
	if err := refuseFlags(cmd, src.broker(), map[string]string{"sample": "rabbitmq"}); err != nil {
		return err
	}
	limit := 0
	prefetch := 1000
	if src.broker() == "rabbitmq" {
		limit, prefetch = sample, sample
	}
	c, err := src.consumer(ctx, f, readPeek, "", prefetch)
	if err != nil {
		return err
	}
	st := dlq.NewStats(time.Now())
	rep := statsReport{Source: name}
	if err := tally(ctx, c, src, st, limit); err != nil && ctx.Err() == nil {
		c.Close()
		return err
	}
	if err := c.Close(); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return mqerr.Wrap(mqerr.Interrupted, errors.New("interrupted"))
	}
	rep.Sampled = limit > 0 && int(st.Total) >= limit
	rep.Total, rep.Oldest, rep.Newest = st.Total, st.Oldest(), st.Newest()
	rep.Reasons, rep.Destinations, rep.Exceptions, rep.Ages = st.Reasons.Top(10), st.Destinations.Top(10), st.Exceptions.Top(10), st.Ages()
	if rep.Sampled {
		rep.Depth = depthOf(ctx, src)
	}
	if check {
		code, line := dlq.Check([]dlq.Depth{{Name: name, Messages: max(rep.Total, rep.Depth)}}, th)
		fmt.Fprintln(f.IO.Out, line)
		if err := printStats(f, format, rep); err != nil {
			return err
		}
		return &exitError{code: code.Code()}
	}
	return printStats(f, format, rep)
}

// depthOf is how many messages src holds, from the broker's listing; 0
// when it cannot say.
func depthOf(ctx context.Context, src *dlqSource) int64 {
	lister, ok := src.conn.(broker.Lister)
	if !ok {
		return 0
	}
	lctx, cancel := withTimeout(ctx, src.target)
	defer cancel()
	dests, err := lister.List(lctx, broker.ListQuery{})
	if err != nil {
		return 0
	}
	for _, d := range dests {
		if d.Name == src.name {
			return d.Messages
		}
	}
	return 0
}

func printStats(f *Factory, format output.Format, rep statsReport) error {
	if format.Name != "table" {
		return output.Object(f.IO, format, rep, nil)
	}
	now := time.Now()
	total := fmt.Sprintf("%d", rep.Total)
	if rep.Sampled {
		total += fmt.Sprintf(" read (--sample) of %d", rep.Depth)
	}
	fmt.Fprintf(f.IO.Out, "%s: %s dead letters, oldest %s ago, newest %s ago\n\n", rep.Source, total, age(now, rep.Oldest), age(now, rep.Newest))
	sections := []struct {
		title  string
		counts []dlq.Count
	}{{"REASON", rep.Reasons}, {"ORIGINAL", rep.Destinations}, {"EXCEPTION", rep.Exceptions}}
	for _, s := range sections {
		if len(s.counts) == 0 {
			continue
		}
		t := output.Table{Header: []string{s.title, "COUNT"}}
		for _, c := range s.counts {
			t.Rows = append(t.Rows, []string{reasonCell(c.Key, 120), strconv.FormatInt(c.Count, 10)})
		}
		if err := output.PrintTable(f.IO, t); err != nil {
			return err
		}
		fmt.Fprintln(f.IO.Out)
	}
	t := output.Table{Header: []string{"AGE", "COUNT"}}
	for _, b := range rep.Ages {
		t.Rows = append(t.Rows, []string{b.Label, strconv.FormatInt(b.Count, 10)})
	}
	return output.PrintTable(f.IO, t)
}

// reasonCell is how every dlq table shows a reason (or another text a
// dead letter carries): one line of at most n characters, without the
// prefix Spring puts before every exception message, which would fill a
// narrow column with the same words. JSON and YAML show the text whole.
func reasonCell(s string, n int) string {
	return dlq.OneLine(strings.TrimPrefix(strings.TrimSpace(s), "Listener failed; nested exception is "), n)
}

func position(e envelope.Envelope) string {
	switch {
	case e.StreamSeq > 0:
		return fmt.Sprintf("%s#%d", e.Stream, e.StreamSeq)
	case e.Offset != nil && e.Partition != nil:
		return fmt.Sprintf("%d/%d", *e.Partition, *e.Offset)
	case e.Properties != nil && e.Properties.MessageID != "":
		return e.Properties.MessageID
	}
	return "-"
}

func originText(o dlq.Origin) string {
	s := o.Destination
	if s == "" && o.Stream != "" {
		s = fmt.Sprintf("%s#%d", o.Stream, o.StreamSeq)
	}
	s = reasonCell(s, 60)
	if o.Partition != nil && o.Offset != nil {
		s += fmt.Sprintf(" %d/%d", *o.Partition, *o.Offset)
	}
	return s
}

func keyText(e envelope.Envelope) string {
	switch {
	case e.Key != nil:
		return *e.Key
	case e.KeyB64 != nil:
		return "b64:" + *e.KeyB64
	}
	return ""
}

func valueText(e envelope.Envelope) string {
	if e.Value != nil {
		return strings.ReplaceAll(*e.Value, "\n", `\n`)
	}
	if e.ValueB64 != nil {
		return "b64:" + *e.ValueB64
	}
	return ""
}

func countText(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// clipText shortens s to n runes for a table cell.
func clipText(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
