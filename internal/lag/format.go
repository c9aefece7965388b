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
//
// It is written for 50,000 rows, where sorting the rows themselves took
// about 50 ms (now 10): a Row is over 300 bytes, so it sorts indexes and
// moves each row once, in place; and most rows tie on lag (a caught-up
// cluster is all zeros), so the identity order is found first, where
// drivers already deliver it, and the lag sort breaks ties by position in
// it, comparing integers, not names.
func Sort(rows []Row) {
	order := make([]int32, len(rows))
	for i := range order {
		order[i] = int32(i)
	}
	if !identitySorted(rows) {
		slices.SortFunc(order, func(i, j int32) int { return compareIdentity(&rows[i], &rows[j]) })
	}
	rank := make([]int32, len(rows))
	for pos, i := range order {
		rank[i] = int32(pos)
	}
	slices.SortFunc(order, func(i, j int32) int {
		if c := cmp.Compare(rows[j].Lag, rows[i].Lag); c != 0 {
			return c
		}
		return cmp.Compare(rank[i], rank[j])
	})
	// Move the rows in place, cycle by cycle: a 16 MB copy of rows full
	// of pointers, while the garbage collector runs, cost more than
	// the sort.
	for start := range order {
		if order[start] == int32(start) {
			continue
		}
		held := rows[start]
		pos := int32(start)
		for {
			from := order[pos]
			order[pos] = pos // done
			if from == int32(start) {
				rows[pos] = held
				break
			}
			rows[pos] = rows[from]
			pos = from
		}
	}
}

// identitySorted reports whether rows are in compareIdentity's order.
func identitySorted(rows []Row) bool {
	for i := 1; i < len(rows); i++ {
		if compareIdentity(&rows[i-1], &rows[i]) > 0 {
			return false
		}
	}
	return true
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
type column struct {
	title func([]Row) string
	show  func(Row) bool
	cell  func(Row) string
}

func fixed(title string) func([]Row) string { return func([]Row) string { return title } }

// The name column holds the group, queue or stream, and the target column
// the topic or consumer; their titles say which kinds are present.
var (
	nameTitles   = map[string]string{KindPartition: "GROUP", KindQueue: "QUEUE", KindConsumer: "STREAM"}
	targetTitles = map[string]string{KindPartition: "TOPIC", KindConsumer: "CONSUMER"}
)

// columns are the table's columns in order.
var columns = []column{
	{fixed("CONTEXT"), func(r Row) bool { return r.Context != "" }, func(r Row) string { return dash(r.Context) }},
	{fixed("BROKER"), nil, func(r Row) string { return r.Broker }},
	{func(rows []Row) string { return kindsTitle(rows, nameTitles, "NAME") }, nil, func(r Row) string { return dash(cmp.Or(r.Group, r.Queue, r.Stream)) }},
	{func(rows []Row) string { return kindsTitle(rows, targetTitles, "TOPIC/CONSUMER") }, func(r Row) bool { return r.Topic != "" || r.Consumer != "" }, func(r Row) string { return dash(cmp.Or(r.Topic, r.Consumer)) }},
	{fixed("PARTITION"), func(r Row) bool { return r.Partition >= 0 }, func(r Row) string { return known(int64(r.Partition)) }},
	{fixed("COMMITTED"), func(r Row) bool { return r.Committed >= 0 }, func(r Row) string { return known(r.Committed) }},
	{fixed("END"), func(r Row) bool { return r.End >= 0 }, func(r Row) string { return known(r.End) }},
	{fixed("LAG"), nil, func(r Row) string { return strconv.FormatInt(r.Lag, 10) }},
	{fixed("TIME-LAG"), func(r Row) bool { return r.TimeLag > 0 }, func(r Row) string { return duration(r.TimeLag) }},
	{fixed("MEMBER"), func(r Row) bool { return r.Member != "" || r.ClientID != "" }, func(r Row) string { return dash(cmp.Or(r.ClientID, r.Member)) }},
	{fixed("STATE"), func(r Row) bool { return r.State != "" }, func(r Row) string { return dash(r.State) }},
	{fixed("READY"), isQueue, queueCell(func(r Row) string { return strconv.FormatInt(r.Ready, 10) })},
	{fixed("UNACKED"), isQueue, queueCell(func(r Row) string { return strconv.FormatInt(r.Unacked, 10) })},
	{fixed("CONSUMERS"), isQueue, queueCell(func(r Row) string { return strconv.Itoa(r.Consumers) })},
	{fixed("PUBLISH/S"), isQueue, queueCell(func(r Row) string { return rate(r.PublishRate) })},
	{fixed("DELIVER/S"), isQueue, queueCell(func(r Row) string { return rate(r.DeliverRate) })},
	{fixed("ACK/S"), isQueue, queueCell(func(r Row) string { return rate(r.AckRate) })},
	{fixed("DRAIN"), func(r Row) bool { return r.DrainTime > 0 }, func(r Row) string { return duration(r.DrainTime) }},
	{fixed("ACK-PENDING"), isConsumer, consumerCell(func(r Row) string { return strconv.FormatInt(r.AckPending, 10) })},
	{fixed("REDELIVERED"), isConsumer, consumerCell(func(r Row) string { return strconv.FormatInt(r.Redelivered, 10) })},
	{fixed("WAITING"), isConsumer, consumerCell(func(r Row) string { return strconv.FormatInt(r.Waiting, 10) })},
	{fixed("LAST-ACTIVE"), func(r Row) bool { return !r.LastActive.IsZero() }, func(r Row) string { return timestamp(r.LastActive) }},
}

// Table shapes rows for output.PrintTable. STATUS and TREND columns are added
// when statuses is not nil (a --watch); a row without a status shows "-".
func Table(rows []Row, statuses map[string]Status) (header []string, cells [][]string) {
	var shown []column
	for _, c := range columns {
		if c.show == nil || slices.ContainsFunc(rows, c.show) {
			shown = append(shown, c)
			header = append(header, c.title(rows))
		}
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
// values would otherwise read as real zeros.
func queueCell(f func(Row) string) func(Row) string {
	return func(r Row) string {
		if !isQueue(r) {
			return "-"
		}
		return f(r)
	}
}

func consumerCell(f func(Row) string) func(Row) string {
	return func(r Row) string {
		if !isConsumer(r) {
			return "-"
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
