// Package produce reads messages from arguments, files or stdin, publishes
// them through a broker.Producer with confirms, and accounts for every one:
// confirmed, or failed and written to --failed-out.
package produce

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/envelope"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// Record is one message read from the input with where it came from.
type Record struct {
	// N is the 1-based position in the input: the line number for lines and
	// jsonl, the argument number for arguments.
	N   int
	Msg *broker.Message
	// chunk is the recordChunk the record and its message live in, nil
	// when they were allocated alone.
	chunk *recordChunk
	// sent is when it was published, on its run's clock.
	sent time.Duration
}

// release says the record and its message are no longer used: their done
// call returned. Once every record of its chunk was released the chunk is
// reused for the records read next. Release each record at most once, and
// only when nothing reads it any more; a record never released only keeps
// its chunk from being reused.
func (r *Record) release() {
	if c := r.chunk; c != nil && c.released.Add(1) == chunkRecords {
		c.pool.put(c)
	}
}

// Reader yields records until io.EOF.
type Reader interface {
	Next() (*Record, error)
}

// InvalidLine is a jsonl line that could not be read as a message.
type InvalidLine struct {
	N   int
	Err error
}

func (e *InvalidLine) Error() string { return fmt.Sprintf("line %d: %v", e.N, e.Err) }

// chunkRecords is how many records a recordChunk holds.
const chunkRecords = 256

// recordChunk holds records with their messages: one allocation per 256
// messages instead of two per message, and none once chunks are reused.
// A chunk is reused once each of its records was released, so in steady
// state the chunks in use are those holding messages in flight plus the
// one being filled.
type recordChunk struct {
	recs     [chunkRecords]recordWithMessage
	released atomic.Int32
	pool     *chunkPool
}

type recordWithMessage struct {
	rec Record
	msg broker.Message
}

// chunkPool keeps released chunks for reuse. Records are released on the
// goroutines that call done, while the reader takes chunks on its own.
type chunkPool struct {
	mu   sync.Mutex
	free []*recordChunk
}

// maxFreeChunks bounds the chunks a pool keeps: enough for a window of
// 16384 messages to recycle all of its chunks.
const maxFreeChunks = 64

func (p *chunkPool) put(c *recordChunk) {
	p.mu.Lock()
	if len(p.free) < maxFreeChunks {
		p.free = append(p.free, c)
	}
	p.mu.Unlock()
}

// get returns a chunk whose records are all zero.
func (p *chunkPool) get() *recordChunk {
	p.mu.Lock()
	var c *recordChunk
	if n := len(p.free); n > 0 {
		c, p.free = p.free[n-1], p.free[:n-1]
	}
	p.mu.Unlock()
	if c == nil {
		return &recordChunk{pool: p}
	}
	// Released means no one reads them any more: clearing them is safe.
	clear(c.recs[:])
	c.released.Store(0)
	return c
}

// recordSlab hands out the records of its pool's chunks in order.
type recordSlab struct {
	pool chunkPool
	cur  *recordChunk
	used int
}

func (s *recordSlab) next(n int, value []byte) *Record {
	if s.cur == nil || s.used == chunkRecords {
		s.cur, s.used = s.pool.get(), 0
	}
	x := &s.cur.recs[s.used]
	s.used++
	x.msg.Value = value
	x.msg.Kafka.Partition = -1
	x.rec.N, x.rec.Msg, x.rec.chunk = n, &x.msg, s.cur
	return &x.rec
}

// maxLine bounds one line so a binary file without delimiters cannot eat
// all memory; brokers reject far smaller messages anyway.
const maxLine = 64 << 20

// slab hands out copies of small byte slices from shared chunks: one
// allocation per 64 KiB of input instead of one per message.
type slab struct{ buf []byte }

func (s *slab) copy(b []byte) []byte {
	if len(b) > 4096 {
		return bytes.Clone(b)
	}
	if len(s.buf) < len(b) {
		s.buf = make([]byte, 64<<10)
	}
	out := s.buf[:len(b):len(b)]
	copy(out, b)
	s.buf = s.buf[len(b):]
	return out
}

// lineScanner splits input at a delimiter without a length limit below maxLine.
type lineScanner struct {
	r     *bufio.Reader
	delim byte
	n     int
	long  []byte
}

func newLineScanner(r io.Reader, delim byte) *lineScanner {
	return &lineScanner{r: bufio.NewReaderSize(r, 1<<20), delim: delim}
}

// next returns the next line without its delimiter; the slice is only
// valid until the next call.
func (s *lineScanner) next() ([]byte, error) {
	s.long = s.long[:0]
	for {
		chunk, err := s.r.ReadSlice(s.delim)
		switch {
		case err == nil:
			s.n++
			if len(s.long) == 0 {
				return chunk[:len(chunk)-1], nil
			}
			s.long = append(s.long, chunk[:len(chunk)-1]...)
			return s.long, nil
		case errors.Is(err, bufio.ErrBufferFull):
			s.long = append(s.long, chunk...)
			if len(s.long) > maxLine {
				return nil, mqerr.Usagef("line %d: longer than %d MiB", s.n+1, maxLine>>20)
			}
		case errors.Is(err, io.EOF):
			s.long = append(s.long, chunk...)
			if len(s.long) == 0 {
				return nil, io.EOF
			}
			s.n++
			return s.long, nil
		default:
			return nil, fmt.Errorf("read input: %w", err)
		}
	}
}

// LinesReader makes one message per delimited line.
type LinesReader struct {
	sc      *lineScanner
	slab    slab
	records recordSlab
}

func NewLinesReader(r io.Reader, delim byte) *LinesReader {
	return &LinesReader{sc: newLineScanner(r, delim)}
}

func (l *LinesReader) Next() (*Record, error) {
	line, err := l.sc.next()
	if err != nil {
		return nil, err
	}
	return l.records.next(l.sc.n, l.slab.copy(line)), nil
}

// JSONLReader reads the envelope of internal/envelope, one per line. Blank
// lines are skipped. A line that does not parse is an *InvalidLine error;
// the caller decides whether to stop or skip it.
type JSONLReader struct{ sc *lineScanner }

func NewJSONLReader(r io.Reader) *JSONLReader { return &JSONLReader{sc: newLineScanner(r, '\n')} }

func (j *JSONLReader) Next() (*Record, error) {
	for {
		line, err := j.sc.next()
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		m, err := envelope.Decode(line)
		if err != nil {
			return nil, &InvalidLine{N: j.sc.n, Err: err}
		}
		return &Record{N: j.sc.n, Msg: m}, nil
	}
}

// RawReader makes one message of the whole input.
type RawReader struct {
	r    io.Reader
	done bool
}

func NewRawReader(r io.Reader) *RawReader { return &RawReader{r: r} }

func (r *RawReader) Next() (*Record, error) {
	if r.done {
		return nil, io.EOF
	}
	r.done = true
	data, err := io.ReadAll(io.LimitReader(r.r, maxLine+1))
	if err != nil {
		return nil, fmt.Errorf("read input: %w", err)
	}
	if len(data) > maxLine {
		return nil, mqerr.Usagef("raw input larger than %d MiB", maxLine>>20)
	}
	return &Record{N: 1, Msg: &broker.Message{Value: data, Kafka: broker.KafkaMeta{Partition: -1}}}, nil
}

// ArgsReader makes one message per command-line value.
type ArgsReader struct {
	values  []string
	i       int
	records recordSlab
}

func NewArgsReader(values []string) *ArgsReader { return &ArgsReader{values: values} }

func (a *ArgsReader) Next() (*Record, error) {
	if a.i >= len(a.values) {
		return nil, io.EOF
	}
	a.i++
	return a.records.next(a.i, []byte(a.values[a.i-1])), nil
}

// Repeat reads the input produced by open count times (--count). open is
// called again for each pass, so a file is streamed anew, never buffered.
type Repeat struct {
	open  func() (Reader, error)
	count int
	pass  int
	cur   Reader
}

func NewRepeat(count int, open func() (Reader, error)) *Repeat {
	return &Repeat{open: open, count: count}
}

func (r *Repeat) Next() (*Record, error) {
	for {
		if r.cur == nil {
			if r.pass >= r.count {
				return nil, io.EOF
			}
			cur, err := r.open()
			if err != nil {
				return nil, err
			}
			r.cur, r.pass = cur, r.pass+1
		}
		rec, err := r.cur.Next()
		if errors.Is(err, io.EOF) {
			r.cur = nil
			continue
		}
		return rec, err
	}
}
