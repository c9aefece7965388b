package lag

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Sort orders rows by lag, biggest first, then by identity so equal lags
// keep a stable order from one poll to the next.
func Sort(rows []Row) {
	slices.SortStableFunc(rows, func(a, b Row) int {
		return cmp.Or(cmp.Compare(b.Lag, a.Lag), compareIdentity(&a, &b))
	})
}

// compareIdentity orders rows by the fields Key is made of, compared
// directly: building keys costs far more than the sort.
func compareIdentity(a, b *Row) int {
	return cmp.Or(
		strings.Compare(a.Context, b.Context),
		strings.Compare(a.Broker, b.Broker),
		strings.Compare(a.Group, b.Group),
		strings.Compare(a.Stream, b.Stream),
		strings.Compare(a.Queue, b.Queue),
		strings.Compare(a.Topic, b.Topic),
		cmp.Compare(a.Partition, b.Partition),
		strings.Compare(a.Consumer, b.Consumer),
	)
}

// column is one table column. A column is shown when show is nil or true for
// at least one row, so a Kafka-only table has no RabbitMQ columns and a mixed
// one has both, with "-" where a row has no value.
//
// drop ranks the column for a terminal too narrow for the table (Layout):
// 1 goes first, 0 never. short is a shorter title, and shorten lets long
// names be cut with "…".
type column struct {
	title   func([]Row) string
	show    func(Row) bool
	cell    func(Row) string
	drop    int
	short   func(title string) string
	shorten bool
}

// shortKinds abbreviates a title naming several kinds ("STREAM/QUEUE/GROUP"
// becomes "NAME"; "CONSUMER/TOPIC" "CONS/TOPIC") and keeps a single one.
func shortKinds(several string, words map[string]string) func(string) string {
	return func(title string) string {
		if !strings.Contains(title, "/") {
			return ""
		}
		if several != "" {
			return several
		}
		for long, short := range words {
			title = strings.ReplaceAll(title, long, short)
		}
		return title
	}
}

func shortTitle(t string) func(string) string { return func(string) string { return t } }

func fixed(title string) func([]Row) string { return func([]Row) string { return title } }

// The name column holds the group, queue or stream, and the target column
// the topic or consumer; their titles say which kinds are present.
var (
	nameTitles   = map[string]string{KindPartition: "GROUP", KindQueue: "QUEUE", KindConsumer: "STREAM"}
	targetTitles = map[string]string{KindPartition: "TOPIC", KindConsumer: "CONSUMER"}
)

// columns are the table's columns in order. The drop ranks put first what
// a person watching lag needs least: rates, then per-kind details, then
// offsets; the identity, LAG, STATS and STATUS always stay.
var columns = []column{
	{title: fixed("CONTEXT"), show: func(r Row) bool { return r.Context != "" }, cell: func(r Row) string { return dash(r.Context) }, shorten: true},
	{title: fixed("BROKER"), cell: func(r Row) string { return r.Broker }, drop: 7},
	{title: func(rows []Row) string { return kindsTitle(rows, nameTitles, "NAME") }, cell: func(r Row) string { return dash(cmp.Or(r.Group, r.Queue, r.Stream)) }, short: shortKinds("NAME", nil), shorten: true},
	{title: func(rows []Row) string { return kindsTitle(rows, targetTitles, "TOPIC/CONSUMER") }, show: func(r Row) bool { return r.Topic != "" || r.Consumer != "" }, cell: func(r Row) string { return dash(cmp.Or(r.Topic, r.Consumer)) }, short: shortKinds("", map[string]string{"CONSUMER": "CONS"}), shorten: true},
	{title: fixed("PARTITION"), show: func(r Row) bool { return r.Partition >= 0 }, cell: func(r Row) string { return known(int64(r.Partition)) }, short: shortTitle("PART")},
	{title: fixed("COMMITTED"), show: func(r Row) bool { return r.Committed >= 0 }, cell: func(r Row) string { return known(r.Committed) }, drop: 9},
	{title: fixed("END"), show: func(r Row) bool { return r.End >= 0 }, cell: func(r Row) string { return known(r.End) }, drop: 10},
	{title: fixed("LAG"), cell: countCell(func(r Row) string { return strconv.FormatInt(r.Lag, 10) })},
	{title: fixed("TIME-LAG"), show: func(r Row) bool { return r.TimeLag > 0 }, cell: func(r Row) string { return duration(r.TimeLag) }, drop: 17},
	{title: fixed("MEMBER"), show: func(r Row) bool { return r.Member != "" || r.ClientID != "" }, cell: func(r Row) string { return dash(cmp.Or(r.ClientID, r.Member)) }, drop: 8},
	{title: fixed("STATE"), show: func(r Row) bool { return r.State != "" }, cell: func(r Row) string { return dash(r.State) }, drop: 12},
	{title: fixed("READY"), show: isQueue, cell: queueCell(func(r Row) string { return strconv.FormatInt(r.Ready, 10) }), drop: 16},
	{title: fixed("UNACKED"), show: isQueue, cell: queueCell(apiFigure(func(r Row) string { return strconv.FormatInt(r.Unacked, 10) })), drop: 15},
	{title: fixed("CONSUMERS"), show: isQueue, cell: queueCell(func(r Row) string { return strconv.Itoa(r.Consumers) }), drop: 14},
	{title: fixed("PUBLISH/S"), show: isQueue, cell: queueCell(apiFigure(func(r Row) string { return rate(r.PublishRate) })), drop: 1},
	{title: fixed("DELIVER/S"), show: isQueue, cell: queueCell(apiFigure(func(r Row) string { return rate(r.DeliverRate) })), drop: 2},
	{title: fixed("ACK/S"), show: isQueue, cell: queueCell(apiFigure(func(r Row) string { return rate(r.AckRate) })), drop: 3},
	{title: fixed("DRAIN"), show: func(r Row) bool { return r.DrainTime > 0 }, cell: func(r Row) string { return duration(r.DrainTime) }, drop: 11},
	{title: fixed("ACK-PENDING"), show: isConsumer, cell: consumerCell(func(r Row) string { return strconv.FormatInt(r.AckPending, 10) }), drop: 13},
	{title: fixed("REDELIVERED"), show: isConsumer, cell: consumerCell(func(r Row) string { return strconv.FormatInt(r.Redelivered, 10) }), drop: 5},
	{title: fixed("WAITING"), show: isConsumer, cell: consumerCell(func(r Row) string { return strconv.FormatInt(r.Waiting, 10) }), drop: 4},
	{title: fixed("LAST-ACTIVE"), show: func(r Row) bool { return !r.LastActive.IsZero() }, cell: func(r Row) string { return timestamp(r.LastActive) }, drop: 6},
	// STATS marks counts that are unknown (all or some) or were behind the
	// data; rows with current counts leave it out.
	{title: fixed("STATS"), show: func(r Row) bool {
		return r.Stats == StatsAbsent || r.Stats == StatsBehind || r.Stats == StatsPartial
	}, cell: func(r Row) string { return dash(r.Stats) }},
}

// statusDrop is the drop rank of the TREND column a watch adds; STATUS
// always stays.
const statusDrop = 18

// shownColumns are the columns at least one row has a value for.
func shownColumns(rows []Row) []column {
	var shown []column
	for _, c := range columns {
		if c.show == nil || slices.ContainsFunc(rows, c.show) {
			shown = append(shown, c)
		}
	}
	return shown
}

// Table shapes rows for output.PrintTable. STATUS and TREND columns are added
// when statuses is not nil (a --watch); a row without a status shows "-".
func Table(rows []Row, statuses map[string]Status) (header []string, cells [][]string) {
	shown := shownColumns(rows)
	for _, c := range shown {
		header = append(header, c.title(rows))
	}
	if statuses != nil {
		header = append(header, "STATUS", "TREND")
	}
	cells = make([][]string, 0, len(rows))
	for _, r := range rows {
		line := make([]string, 0, len(header))
		for _, c := range shown {
			line = append(line, c.cell(r))
		}
		if statuses != nil {
			if st, ok := statuses[r.Key()]; ok {
				line = append(line, string(st.Code), trend(st.Trend))
			} else {
				line = append(line, "-", "-")
			}
		}
		cells = append(cells, line)
	}
	return header, cells
}

// Layout says how the columns of Table(rows, statuses) give way on a
// narrow terminal, index for index with its header: short titles (""
// keeps the title), the columns to drop, first to last, and the columns
// whose names may be cut with "…".
func Layout(rows []Row, statuses map[string]Status) (short []string, drop []int, shorten []int) {
	shown := shownColumns(rows)
	ranks := make([]int, 0, len(shown)+2)
	for i, c := range shown {
		abbrev := ""
		if c.short != nil {
			abbrev = c.short(c.title(rows))
		}
		short = append(short, abbrev)
		ranks = append(ranks, c.drop)
		if c.shorten {
			shorten = append(shorten, i)
		}
	}
	if statuses != nil {
		short = append(short, "", "")
		ranks = append(ranks, 0, statusDrop)
	}
	for i, r := range ranks {
		if r > 0 {
			drop = append(drop, i)
		}
	}
	slices.SortStableFunc(drop, func(a, b int) int { return cmp.Compare(ranks[a], ranks[b]) })
	return short, drop, shorten
}

// DroppedFirst lists the column titles in the order a narrow terminal
// drops them, for --help.
func DroppedFirst() []string {
	type ranked struct {
		rank  int
		title string
	}
	var all []ranked
	for _, c := range columns {
		if c.drop > 0 {
			all = append(all, ranked{c.drop, c.title(nil)})
		}
	}
	all = append(all, ranked{statusDrop, "TREND"})
	slices.SortFunc(all, func(a, b ranked) int { return cmp.Compare(a.rank, b.rank) })
	out := make([]string, len(all))
	for i, r := range all {
		out[i] = r.title
	}
	return out
}

// kindsTitle names a column after the kinds of rows present ("GROUP",
// "GROUP/QUEUE"), in the order of first appearance; fallback when no kind
// has a name for it.
func kindsTitle(rows []Row, names map[string]string, fallback string) string {
	var parts []string
	for _, r := range rows {
		if n, ok := names[r.Kind]; ok && !slices.Contains(parts, n) {
			parts = append(parts, n)
		}
	}
	if len(parts) == 0 {
		return fallback
	}
	return strings.Join(parts, "/")
}

func isQueue(r Row) bool    { return r.Kind == KindQueue }
func isConsumer(r Row) bool { return r.Kind == KindConsumer }

// queueCell and consumerCell print "-" for rows of other kinds, whose zero
// values would otherwise read as real zeros, and "?" for counts that are
// not known (see countCell).
func queueCell(f func(Row) string) func(Row) string {
	return func(r Row) string {
		if !isQueue(r) {
			return "-"
		}
		return countCell(f)(r)
	}
}

func consumerCell(f func(Row) string) func(Row) string {
	return func(r Row) string {
		if !isConsumer(r) {
			return "-"
		}
		return countCell(f)(r)
	}
}

// countCell prints "?" for a row whose counts are unknown, never a 0 that
// would read as an empty queue.
func countCell(f func(Row) string) func(Row) string {
	return func(r Row) string {
		if !r.CountsKnown() {
			return "?"
		}
		return f(r)
	}
}

// apiFigure prints "?" for a queue row's unacked count or rate when the
// row does not tell it (read over AMQP alone), never a 0.
func apiFigure(f func(Row) string) func(Row) string {
	return func(r Row) string {
		if !r.APIFiguresKnown() {
			return "?"
		}
		return f(r)
	}
}

func dash(s string) string { return cmp.Or(s, "-") }

func known(v int64) string {
	if v < 0 {
		return "-"
	}
	return strconv.FormatInt(v, 10)
}

func duration(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return formatDuration(d)
}

func rate(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// timestamp is UTC so tables from different machines read the same.
func timestamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func trend(v int64) string {
	if v > 0 {
		return "+" + strconv.FormatInt(v, 10)
	}
	return strconv.FormatInt(v, 10)
}
