package dlq

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mqctl/mqctl/internal/envelope"
	"github.com/mqctl/mqctl/internal/output"
)

// The tables of ls, peek and stats: data shaping only; printing is the
// caller's (output.List, output.Object).

// RowsTable is `dlq ls` as a table.
func RowsTable(rows []Row) output.Table {
	now := sinceNow()
	t := output.Table{Header: []string{"TYPE", "NAME", "MESSAGES", "OLDEST", "TOP REASONS", "WHY"}}
	for _, r := range rows {
		var reasons []string
		for _, c := range r.TopReasons {
			reasons = append(reasons, fmt.Sprintf("%s (%d)", ReasonCell(c.Key, 40), c.Count))
		}
		top := orDash(strings.Join(reasons, ", "))
		if r.NotRead {
			top = "(not read: --sample N)"
		}
		t.Rows = append(t.Rows, []string{r.Type, r.Name, strconv.FormatInt(r.Messages, 10), Age(now, r.Oldest), top, r.Why})
	}
	return t
}

// PeekTable is `dlq peek` as a table. Its times say what they are: DIED
// is a death the dead letter records (RabbitMQ x-death, mqctl's
// mq-death-time, a JetStream advisory), PUBLISHED the timestamp of the
// message whose value is shown; "-" when there is none. POSITION (Kafka
// partition/offset, JetStream stream#seq) and MESSAGE ID are shown only
// when some dead letter has one: a RabbitMQ queue has no position.
func PeekTable(items []PeekItem) output.Table {
	now := sinceNow()
	has := func(f func(PeekItem) bool) bool { return slices.ContainsFunc(items, f) }
	positioned := has(func(it PeekItem) bool { return position(it.Message) != "" })
	withID := has(func(it PeekItem) bool { return messageID(it.Message) != "" })
	// TRACE only when a message carries a trace id: 32 digits are too
	// wide to show as a column of dashes.
	traced := has(func(it PeekItem) bool { return it.Origin.TraceID != "" })
	var t output.Table
	if positioned {
		t.Header = append(t.Header, "POSITION")
	}
	if withID {
		t.Header = append(t.Header, "MESSAGE ID")
	}
	t.Header = append(t.Header, "DIED", "PUBLISHED", "REASON", "COUNT", "ORIGINAL")
	if traced {
		t.Header = append(t.Header, "TRACE")
	}
	t.Header = append(t.Header, "KEY", "VALUE")
	for _, it := range items {
		o := it.Origin
		shown := it.Message
		if it.Original != nil {
			shown = *it.Original
		}
		val := valueText(shown)
		if it.Gone {
			val = "(original gone)"
		}
		published, _ := time.Parse(time.RFC3339Nano, shown.Timestamp)
		var row []string
		if positioned {
			row = append(row, orDash(position(it.Message)))
		}
		if withID {
			row = append(row, orDash(clipText(messageID(it.Message), 24)))
		}
		row = append(row, Age(now, o.LastDeath), Age(now, published), orDash(ReasonCell(o.Reason, 50)),
			orDash(countText(o.Count)), orDash(originText(o)))
		if traced {
			row = append(row, orDash(o.TraceID))
		}
		t.Rows = append(t.Rows, append(row, orDash(clipText(keyText(it.Message), 20)), clipText(val, 60)))
	}
	return t
}

// Headline is the first line of `dlq stats` as a table.
func (r StatsReport) Headline() string {
	now := sinceNow()
	total := fmt.Sprintf("%d", r.Total)
	if r.Sampled {
		total += fmt.Sprintf(" read (--sample) of %d", r.Depth)
	}
	return fmt.Sprintf("%s: %s dead letters, oldest %s ago, newest %s ago", r.Source, total, Age(now, r.Oldest), Age(now, r.Newest))
}

// Tables are the sections of `dlq stats` under its headline: counts by
// reason, original and exception (those that have any), then ages.
func (r StatsReport) Tables() []output.Table {
	var out []output.Table
	sections := []struct {
		title  string
		counts []Count
	}{{"REASON", r.Reasons}, {"ORIGINAL", r.Destinations}, {"EXCEPTION", r.Exceptions}}
	for _, s := range sections {
		if len(s.counts) == 0 {
			continue
		}
		t := output.Table{Header: []string{s.title, "COUNT"}}
		for _, c := range s.counts {
			t.Rows = append(t.Rows, []string{ReasonCell(c.Key, 120), strconv.FormatInt(c.Count, 10)})
		}
		out = append(out, t)
	}
	t := output.Table{Header: []string{"AGE", "COUNT"}}
	for _, b := range r.Ages {
		t.Rows = append(t.Rows, []string{b.Label, strconv.FormatInt(b.Count, 10)})
	}
	return append(out, t)
}

// ReasonCell is how every dlq table shows a reason (or another text a
// dead letter carries): one line of at most n characters, without the
// prefix Spring puts before every exception message, which would fill a
// narrow column with the same words. JSON and YAML show the text whole.
func ReasonCell(s string, n int) string {
	return OneLine(strings.TrimPrefix(strings.TrimSpace(s), "Listener failed; nested exception is "), n)
}

// Age formats how long ago t was, "-" when unknown.
func Age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// position is where e is in its source ("" on RabbitMQ, whose queues
// have none a consumer can address).
func position(e envelope.Envelope) string {
	switch {
	case e.StreamSeq > 0:
		return fmt.Sprintf("%s#%d", e.Stream, e.StreamSeq)
	case e.Offset != nil && e.Partition != nil:
		return fmt.Sprintf("%d/%d", *e.Partition, *e.Offset)
	}
	return ""
}

// messageID is e's AMQP message-id property, "" without one.
func messageID(e envelope.Envelope) string {
	if e.Properties == nil {
		return ""
	}
	return e.Properties.MessageID
}

func originText(o Origin) string {
	s := o.Destination
	if s == "" && o.Stream != "" {
		s = fmt.Sprintf("%s#%d", o.Stream, o.StreamSeq)
	}
	s = ReasonCell(s, 60)
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
		// As it is: the table escapes a newline (\n) on a terminal and in
		// a pipe alike; escaping it here too made a pipe's \\n.
		return *e.Value
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

// sinceNow is the clock the tables' ages are taken against.
var sinceNow = time.Now

// PrintStats prints rep as `dlq stats` shows it on a table format: the
// headline, then each table, a blank line between them.
func PrintStats(s *output.Streams, rep StatsReport) error {
	headline := rep.Headline()
	if s.OutTTY {
		headline = output.TerminalSafe(headline)
	}
	fmt.Fprintf(s.Out, "%s\n\n", headline)
	tables := rep.Tables()
	for i, t := range tables {
		if err := output.PrintTable(s, t); err != nil {
			return err
		}
		if i < len(tables)-1 {
			fmt.Fprintln(s.Out)
		}
	}
	return nil
}
