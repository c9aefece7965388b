package bench

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// TestHeaderRoundTrip: what putHeader writes, parseHeader reads back, for
// the monotonic and the wall-clock forms, in the same 32 bytes; the
// wall-clock form has a version byte of its own.
func TestHeaderRoundTrip(t *testing.T) {
	now := time.Now().UnixNano()
	for _, h := range []header{
		{run: 1, producer: 2, seq: 3, intended: int64(1500 * time.Millisecond)},
		{run: ^uint64(0), producer: ^uint32(0), seq: 1 << 40, intended: now, wall: true},
		{run: 7, producer: 0, seq: 0, intended: now, wall: true, warm: true},
	} {
		b := make([]byte, HeaderLen)
		putHeader(b, h)
		got, err := parseHeader(b)
		if err != nil || got != h {
			t.Errorf("put %+v, parsed %+v, %v", h, got, err)
		}
		if want := byte(versionMonotonic); h.wall == (b[3] == want) {
			t.Errorf("%+v written with version byte %d", h, b[3])
		}
	}
}

// TestHeaderOldFormat: a payload as bench wrote it before --e2e-cross-host
// ("MQB\x01", time since the run's start) still reads as a monotonic time,
// never as a wall-clock one; a version byte this bench does not know, and
// a short payload, are foreign.
func TestHeaderOldFormat(t *testing.T) {
	old := make([]byte, HeaderLen+8)
	copy(old, "MQB\x01")
	binary.BigEndian.PutUint64(old[4:], 42)
	binary.BigEndian.PutUint32(old[12:], 3)
	binary.BigEndian.PutUint64(old[16:], 9)
	binary.BigEndian.PutUint64(old[24:], uint64(2*time.Second))
	h, err := parseHeader(old)
	if want := (header{run: 42, producer: 3, seq: 9, intended: int64(2 * time.Second)}); err != nil || h != want {
		t.Fatalf("old payload read as %+v, %v; want %+v", h, err, want)
	}
	for _, v := range []byte{0, 4, 0xff} {
		b := append([]byte(nil), old...)
		b[3] = v
		if h, err := parseHeader(b); err == nil {
			t.Errorf("version %d read as %+v", v, h)
		}
	}
	if _, err := parseHeader(old[:HeaderLen-1]); err == nil {
		t.Error("a 31-byte payload read as a bench payload")
	}
}

// TestRecordWallNegative: a negative wall-clock latency is counted with
// its size, not recorded at the histogram's 1 µs floor.
func TestRecordWallNegative(t *testing.T) {
	var c counters
	h := newLockedHist()
	for _, d := range []time.Duration{3 * time.Millisecond, -2 * time.Millisecond, -5 * time.Millisecond, 0} {
		c.recordWall(h, d)
	}
	tot := newHist()
	h.roll(tot)
	if tot.TotalCount() != 2 || c.negative.Load() != 2 || time.Duration(c.negativeMax.Load()) != 5*time.Millisecond {
		t.Errorf("recorded %d, negative %d by up to %s; want 2, 2, 5ms", tot.TotalCount(), c.negative.Load(), time.Duration(c.negativeMax.Load()))
	}
}

// subRun runs bench sub on name (which a pub filled) and summarizes it.
func subRun(t *testing.T, conn broker.Conn, name string, n int64, crossHost bool) (*Result, Summary) {
	t.Helper()
	w := Workload{Mode: "sub", Producers: 1, Consumers: 1, Count: n, Size: 1024, InFlight: 64, CrossHost: crossHost}
	_, p, c, err := Plan(conn.Broker(), name, w, Knobs{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := Run(ctx, Env{Publisher: conn.(broker.Publisher), Subscriber: conn.(broker.Subscriber), Producer: p, Consumer: c}, w)
	if err != nil {
		t.Fatal(err)
	}
	if r.Received != n || r.Interrupted {
		t.Fatalf("sub received %d of %d (interrupted %v)", r.Received, n, r.Interrupted)
	}
	return r, Summarize(r, conn.Broker(), name)
}

func e2eRow(s Summary) *Latency {
	for i, l := range s.Latency {
		if strings.HasPrefix(l.Name, "end-to-end") {
			return &s.Latency[i]
		}
	}
	return nil
}

// TestSubCrossHost (JetStream): bench sub --e2e-cross-host measures
// end-to-end latency from what bench pub --e2e-cross-host sent, on the
// wall clock; from old-format (monotonic) payloads, or without the flag,
// it measures nothing and says why in one line.
func TestSubCrossHost(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn := open(t, srv.URL)
	const n = 2000

	t.Run("wall", func(t *testing.T) {
		const name = "mqctl-bench-xh-wall"
		before := time.Now()
		pub := run(t, conn, name, Workload{Mode: "pub", Producers: 2, Consumers: 1, Count: n, Size: 100, Rate: 4000, CrossHost: true}, Knobs{}, 0)
		if pub.E2EClock != ClockWall || pub.Confirmed != n {
			t.Fatalf("pub clock %q, confirmed %d", pub.E2EClock, pub.Confirmed)
		}
		r, s := subRun(t, conn, name, n, true)
		bound := time.Since(before) // nothing was sent before, or received after
		row := e2eRow(s)
		if row == nil || row.Name != E2EWallName || row.Count != n || s.E2EClock != ClockWall || s.E2ENotMeasured != "" || s.E2ENegative != 0 || s.E2EUnstamped != 0 {
			t.Fatalf("sub summary %+v", s)
		}
		if row.P50 < 1 || time.Duration(row.Max)*time.Microsecond > bound+bound/100 {
			t.Errorf("end-to-end p50 %d µs, max %d µs; want within (0, %s]", row.P50, row.Max, bound)
		}
		if r.E2E.TotalCount() != n || len(s.Notes()) != 0 {
			t.Errorf("histogram %d values, notes %q", r.E2E.TotalCount(), s.Notes())
		}
		var tl int64
		for _, tk := range r.Timeline {
			tl += tk.E2E.Count
		}
		if tl != n {
			t.Errorf("timeline end-to-end counts add to %d, want %d", tl, n)
		}
	})
	t.Run("old format", func(t *testing.T) {
		const name = "mqctl-bench-xh-mono"
		run(t, conn, name, Workload{Mode: "pub", Producers: 1, Consumers: 1, Count: n, Size: 100}, Knobs{}, 0)
		r, s := subRun(t, conn, name, n, true)
		if r.E2E.TotalCount() != 0 || r.E2EUnstamped != n || e2eRow(s) != nil || !strings.Contains(s.E2ENotMeasured, "none of the 2000 messages received carried a wall-clock send time") {
			t.Fatalf("sub of monotonic payloads: histogram %d, unstamped %d, summary %+v", r.E2E.TotalCount(), r.E2EUnstamped, s)
		}
		if notes := s.Notes(); len(notes) != 1 || strings.Contains(notes[0], "\n") {
			t.Errorf("notes %q, want one line", notes)
		}
	})
	t.Run("no flag", func(t *testing.T) {
		const name = "mqctl-bench-xh-noflag"
		run(t, conn, name, Workload{Mode: "pub", Producers: 1, Consumers: 1, Count: n, Size: 100, CrossHost: true}, Knobs{}, 0)
		r, s := subRun(t, conn, name, n, false)
		if r.E2E.TotalCount() != 0 || e2eRow(s) != nil || s.E2EClock != "" || !strings.Contains(s.E2ENotMeasured, "give --e2e-cross-host to bench pub and bench sub") {
			t.Fatalf("sub without the flag: histogram %d, summary %+v", r.E2E.TotalCount(), s)
		}
	})
	t.Run("clocks disagree", func(t *testing.T) {
		// A sender whose clock is an hour ahead: half the payloads say
		// they were sent an hour from now.
		const name = "mqctl-bench-xh-skew"
		run(t, conn, name, Workload{Mode: "pub", Producers: 1, Consumers: 1, Count: 1, Size: 100, CrossHost: true}, Knobs{}, 0)
		_, p, _, err := Plan(conn.Broker(), name, Workload{Mode: "pub", Producers: 1, Consumers: 1, Size: 100}, Knobs{})
		if err != nil {
			t.Fatal(err)
		}
		p.ConfirmTimeout = 10 * time.Second
		ctx := context.Background()
		prod, err := conn.(broker.Publisher).NewProducer(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		msgs := make([]broker.Message, 100)
		for i := range msgs {
			b := make([]byte, 100)
			at := time.Now()
			if i%2 == 0 {
				at = at.Add(time.Hour)
			}
			putHeader(b, header{run: 5, seq: uint64(i), intended: at.UnixNano(), wall: true})
			msgs[i].Value = b
			prod.Publish(ctx, &msgs[i], func(_ broker.Receipt, err error) {
				if err != nil {
					t.Error(err)
				}
			})
		}
		if err := prod.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		prod.Close()
		r, s := subRun(t, conn, name, 101, true)
		if r.E2ENegative != 50 || r.E2ENegativeMax < 59*time.Minute || r.E2E.TotalCount() != 51 || s.E2ENegative != 50 {
			t.Fatalf("negative %d by up to %s, recorded %d; want 50 by about 1h, 51", r.E2ENegative, r.E2ENegativeMax, r.E2E.TotalCount())
		}
		notes := s.Notes()
		if len(notes) != 1 || !strings.Contains(notes[0], "50 end-to-end values were negative") || !strings.Contains(notes[0], "clocks disagree") {
			t.Errorf("notes %q", notes)
		}
		var found bool
		for _, row := range s.Table().Rows {
			if strings.HasPrefix(row[0], "end-to-end < 0") {
				found = row[1] == "50" && (strings.HasPrefix(row[7], "-59m") || strings.HasPrefix(row[7], "-1h"))
			}
		}
		if !found {
			t.Errorf("no end-to-end < 0 row of 50 in %q", s.Table().Rows)
		}
	})
}

// TestE2ECrossHostSameProcess: an e2e run with --e2e-cross-host stamps
// and measures on the wall clock, and its row says so; without the flag
// it stays on the monotonic clock.
func TestE2ECrossHostSameProcess(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn := open(t, srv.URL)
	for _, cross := range []bool{false, true} {
		name := "mqctl-bench-xh-e2e"
		if cross {
			name += "-wall"
		}
		r := run(t, conn, name, Workload{Mode: "e2e", Producers: 1, Consumers: 1, Count: 1000, Size: 100, CrossHost: cross}, Knobs{}, 0)
		checkClean(t, r, 1000)
		s := Summarize(r, conn.Broker(), name)
		wantClock, wantName := ClockMonotonic, "end-to-end"
		if cross {
			wantClock, wantName = ClockWall, E2EWallName
		}
		row := e2eRow(s)
		if s.E2EClock != wantClock || row == nil || row.Name != wantName || row.Count != 1000 || s.E2ENegative != 0 {
			t.Errorf("cross-host %v: clock %q, row %+v", cross, s.E2EClock, row)
		}
	}
}
