package produce

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
)

func readAll(t *testing.T, r Reader) ([]string, []int) {
	t.Helper()
	var vals []string
	var ns []int
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return vals, ns
		}
		if err != nil {
			t.Fatal(err)
		}
		vals = append(vals, string(rec.Msg.Value))
		ns = append(ns, rec.N)
	}
}

func TestLinesReader(t *testing.T) {
	cases := []struct {
		in    string
		delim byte
		want  []string
	}{
		{"a\nb\n", '\n', []string{"a", "b"}},
		{"a\nb", '\n', []string{"a", "b"}},
		{"a\n\nb\n", '\n', []string{"a", "", "b"}},
		{"a\r\n", '\n', []string{"a\r"}},
		{"x|y|", '|', []string{"x", "y"}},
		{"", '\n', nil},
	}
	for _, tc := range cases {
		got, _ := readAll(t, NewLinesReader(strings.NewReader(tc.in), tc.delim))
		if strings.Join(got, ",") != strings.Join(tc.want, ",") || len(got) != len(tc.want) {
			t.Errorf("%q: got %q want %q", tc.in, got, tc.want)
		}
	}
}

// Lines longer than the read buffer, delivered one byte at a time, come out whole.
func TestLinesReaderLongLines(t *testing.T) {
	long := strings.Repeat("x", 3<<20)
	in := long + "\nshort\n" + long
	got, ns := readAll(t, NewLinesReader(iotest.HalfReader(strings.NewReader(in)), '\n'))
	if len(got) != 3 || got[0] != long || got[1] != "short" || got[2] != long || ns[2] != 3 {
		t.Fatalf("got %d lines, lengths %d", len(got), len(got[0]))
	}
}

// Values must not share memory that a later line overwrites.
func TestLinesReaderValuesAreStable(t *testing.T) {
	r := NewLinesReader(strings.NewReader("first\nsecond\n"), '\n')
	a, _ := r.Next()
	b, _ := r.Next()
	if string(a.Msg.Value) != "first" || string(b.Msg.Value) != "second" {
		t.Fatalf("%q %q", a.Msg.Value, b.Msg.Value)
	}
	a.Msg.Value = append(a.Msg.Value, '!')
	if string(b.Msg.Value) != "second" {
		t.Fatalf("append to one value changed the next: %q", b.Msg.Value)
	}
}

func TestJSONLReaderNamesTheLine(t *testing.T) {
	r := NewJSONLReader(strings.NewReader("{\"value\":\"a\"}\n\n{\"value\": 3}\n{\"value\":\"c\"}\n"))
	rec, err := r.Next()
	if err != nil || string(rec.Msg.Value) != "a" {
		t.Fatal(rec, err)
	}
	_, err = r.Next()
	var inv *InvalidLine
	if !errors.As(err, &inv) || inv.N != 3 || !strings.Contains(err.Error(), `line 3: field "value"`) {
		t.Fatalf("got %v", err)
	}
	rec, err = r.Next()
	if err != nil || string(rec.Msg.Value) != "c" || rec.N != 4 {
		t.Fatal(rec, err)
	}
}

func TestRepeatReopens(t *testing.T) {
	opens := 0
	r := NewRepeat(3, func() (Reader, error) {
		opens++
		return NewArgsReader([]string{"a", "b"}), nil
	})
	got, _ := readAll(t, r)
	if strings.Join(got, "") != "ababab" || opens != 3 {
		t.Fatalf("got %q after %d opens", got, opens)
	}
}

func TestRawReader(t *testing.T) {
	got, _ := readAll(t, NewRawReader(strings.NewReader("a\nb\n")))
	if len(got) != 1 || got[0] != "a\nb\n" {
		t.Fatalf("%q", got)
	}
}

func TestPercentile(t *testing.T) {
	var s Stats
	for i := 1; i <= 100; i++ {
		s.observe(time.Duration(i) * time.Millisecond)
	}
	p50, p99 := s.Percentile(0.5), s.Percentile(0.99)
	// Within 0.1% (three significant digits); the old log buckets were 10% wide.
	if p50 < 50*time.Millisecond || p50 > 50050*time.Microsecond || p99 < 99*time.Millisecond || p99 > 99099*time.Microsecond {
		t.Fatalf("p50 %s p99 %s", p50, p99)
	}
	var us Stats
	us.observe(1500 * time.Nanosecond)
	us.observe(0)
	if got := us.Percentile(1); got != time.Microsecond && got != 2*time.Microsecond {
		t.Errorf("µs resolution: p100 of 1.5µs = %s", got)
	}
	if (&Stats{}).Percentile(0.5) != 0 {
		t.Fatal("empty stats")
	}
}

func TestPrepare(t *testing.T) {
	tmpl, err := ParseMsgIDTemplate("{{.N}}-{{.Key}}")
	if err != nil {
		t.Fatal(err)
	}
	h, _ := ParseHeader("a=b=c")
	p := int32(2)
	prep := Decoration{Key: []byte("k"), Headers: []broker.Header{h}, Partition: &p, MsgID: tmpl}.Prepare()
	rec := &Record{N: 7, Msg: &broker.Message{Value: []byte("v"), Kafka: broker.KafkaMeta{Partition: -1}}}
	if err := prep(rec); err != nil {
		t.Fatal(err)
	}
	m := rec.Msg
	if string(m.Key) != "k" || len(m.Headers) != 1 || string(m.Headers[0].Value) != "b=c" || m.Kafka.Partition != 2 || m.NATS.MsgID != "7-k" {
		t.Fatalf("%+v", m)
	}
	gen := Decoration{GenerateMsgID: true}.Prepare()
	a, b := &Record{N: 1, Msg: &broker.Message{Value: []byte("x")}}, &Record{N: 1, Msg: &broker.Message{Value: []byte("x")}}
	gen(a)
	gen(b)
	if a.Msg.NATS.MsgID == "" || a.Msg.NATS.MsgID == b.Msg.NATS.MsgID {
		t.Fatalf("generated ids %q %q must differ even for the same line number (--count)", a.Msg.NATS.MsgID, b.Msg.NATS.MsgID)
	}
	for _, bad := range []string{"novalue", "=v"} {
		if _, err := ParseHeader(bad); err == nil {
			t.Errorf("ParseHeader(%q) accepted", bad)
		}
	}
}

// linesFor returns n numbered lines, one message each.
func linesFor(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "m%d\n", i)
	}
	return b.String()
}

// A chunk of records is reused only once every record of it was released:
// a record in flight keeps its message whatever is read meanwhile.
func TestRecordChunkReusedOnlyWhenAllReleased(t *testing.T) {
	r := NewLinesReader(strings.NewReader(linesFor(4*chunkRecords)), '\n')
	next := func() *Record {
		t.Helper()
		rec, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	first := make([]*Record, chunkRecords)
	for i := range first {
		first[i] = next()
	}
	// Set what Prepare would, so a reuse must clear it.
	for _, rec := range first {
		rec.Msg.Headers = append(rec.Msg.Headers, broker.Header{Key: "h", Value: []byte("v")})
		rec.Msg.NATS.MsgID = "id"
	}
	held := first[7]
	for _, rec := range first {
		if rec != held {
			rec.release()
		}
	}
	inFirst := func(rec *Record) bool {
		for _, f := range first {
			if f == rec {
				return true
			}
		}
		return false
	}
	for range 2 * chunkRecords {
		if rec := next(); inFirst(rec) {
			t.Fatalf("line %d reuses a record of a chunk with one still in flight", rec.N)
		}
	}
	if string(held.Msg.Value) != "m7" || held.N != 8 || held.Msg.NATS.MsgID != "id" {
		t.Fatalf("the record in flight changed: N %d, value %q, msg id %q", held.N, held.Msg.Value, held.Msg.NATS.MsgID)
	}
	held.release()
	rec := next()
	if !inFirst(rec) {
		t.Fatal("a chunk whose records were all released was not reused")
	}
	m := rec.Msg
	if rec.N != 3*chunkRecords+1 || string(m.Value) != fmt.Sprintf("m%d", 3*chunkRecords) || m.Headers != nil || m.NATS.MsgID != "" || m.Kafka.Partition != -1 {
		t.Fatalf("reused record not fresh: N %d, value %q, headers %v, msg id %q, partition %d", rec.N, m.Value, m.Headers, m.NATS.MsgID, m.Kafka.Partition)
	}
}
