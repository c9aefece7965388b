package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// TestSeqTracker: duplicates, gaps (below the highest sequence received,
// filled again by a late one), runs and producers apart, and a window
// that slides up within its budget: what fell below it is unchecked, not
// a duplicate.
func TestSeqTracker(t *testing.T) {
	tr := newSeqTracker(subBudget)
	for _, s := range []uint64{0, 1, 2, 5, 9, 2} { // 3, 4, 6, 7, 8 missing; 2 twice
		tr.receive(1, 0, s)
	}
	tr.receive(1, 1, 130) // 0..129 never seen: 130 gaps, a bitset of one word
	tr.receive(2, 0, 0)
	n := tr.counts()
	if n.Runs != 2 || n.Producers != 3 || n.Received != 7 || n.Duplicated != 1 || n.Gaps() != 5+130 || n.Unchecked != 0 {
		t.Fatalf("counts %+v, gaps %d; want 2 runs, 3 producers, 7 received, 1 duplicated, 135 gaps", n, n.Gaps())
	}
	if dup := tr.receive(1, 1, 3); dup || tr.counts().Gaps() != 134 { // below the first seen: grows down
		t.Errorf("late sequence 3: dup %v, gaps %d; want a filled gap, 134", dup, tr.counts().Gaps())
	}
	if !tr.receive(1, 1, 3) || !tr.receive(1, 1, 130) {
		t.Error("sequences received twice not reported as duplicates")
	}

	// A budget of 16 words: the first producer's window slides up.
	small := newSeqTracker(producerWords + 8)
	for s := uint64(0); s < 64*20; s++ {
		if small.receive(9, 0, s) {
			t.Fatalf("sequence %d reported a duplicate", s)
		}
	}
	if small.words > small.budget {
		t.Errorf("holds %d words, budget %d", small.words, small.budget)
	}
	if small.receive(9, 0, 5) || small.receive(9, 0, 64*20-1) != true {
		t.Error("below the window: want unchecked; at its top: want a duplicate")
	}
	if n := small.counts(); n.Unchecked != 1 || n.Received != 64*20 || n.Gaps() != 0 {
		t.Errorf("after sliding: %+v, gaps %d", n, n.Gaps())
	}
}

// TestSeqTrackerMemory: ten million sequences over four producers, as a
// long bench pub sends them (each producer's in order, interleaved), fit
// in a few MiB of heap: one bit per sequence, no entry per message.
func TestSeqTrackerMemory(t *testing.T) {
	const n, producers = 10_000_000, 4
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tr := newSeqTracker(subBudget)
	for i := uint64(0); i < n; i++ {
		tr.receive(42, uint32(i%producers), i/producers)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	c := tr.counts()
	if c.Received != n || c.Gaps() != 0 || c.Duplicated != 0 {
		t.Fatalf("counts %+v", c)
	}
	grown := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("10M sequences, %d producers: %d words held, heap grew %.2f MiB", producers, tr.words, float64(grown)/(1<<20))
	if grown > 8<<20 {
		t.Errorf("heap grew %d bytes for %d sequences, want under 8 MiB", grown, n)
	}
	runtime.KeepAlive(tr)
}

// TestSeqTrackerSlides: at a budget of a few words the windows of two
// producers slide hundreds of times under sequences that come in order,
// late, twice or never; each answer is checked against the sequences the
// tracker counted: a duplicate is one of them, a new one is not, one in
// the window is never left unchecked, and the gaps are what the counted
// ones leave below each producer's highest.
func TestSeqTrackerSlides(t *testing.T) {
	tr := newSeqTracker(2*producerWords + 24)
	rng := rand.New(rand.NewPCG(28, 1))
	var counted [2]map[uint64]bool
	var next, top [2]uint64
	var calls, received, slides int64
	for p := range counted {
		counted[p] = map[uint64]bool{}
	}
	for range 200_000 {
		p := rng.IntN(2)
		seq := next[p]
		switch r := rng.IntN(100); {
		case r < 2: // never sent
			next[p]++
			continue
		case r < 8 && next[p] > 0: // late or again, up to 2000 back
			seq = next[p] - 1 - rng.Uint64N(min(next[p], 2000))
		default:
			next[p]++
		}
		var floor uint64
		if sp := tr.runs[1][uint32(p)]; sp != nil {
			floor = sp.floor
		}
		before := tr.counts()
		dup := tr.receive(1, uint32(p), seq)
		after := tr.counts()
		calls++
		sp := tr.runs[1][uint32(p)]
		if sp.floor != floor {
			slides++
		}
		switch {
		case tr.words > tr.budget:
			t.Fatalf("holds %d words, budget %d", tr.words, tr.budget)
		case dup != (after.Duplicated > before.Duplicated):
			t.Fatalf("producer %d sequence %d: receive said dup %v, counts %+v → %+v", p, seq, dup, before, after)
		case after.Duplicated > before.Duplicated && !counted[p][seq]:
			t.Fatalf("producer %d sequence %d: a duplicate, never counted before", p, seq)
		case after.Received > before.Received && counted[p][seq]:
			t.Fatalf("producer %d sequence %d: counted received twice", p, seq)
		case after.Unchecked > before.Unchecked && seq >= sp.got.base*64:
			t.Fatalf("producer %d sequence %d: unchecked in the window from %d", p, seq, sp.got.base*64)
		}
		if after.Received > before.Received {
			counted[p][seq] = true
			received++
			top[p] = max(top[p], seq+1)
		}
	}
	n := tr.counts()
	if n.Received+n.Duplicated+n.Unchecked != calls || n.Received != received {
		t.Errorf("counts %+v over %d calls, %d counted received", n, calls, received)
	}
	if want := int64(top[0]+top[1]) - received; n.Gaps() != want {
		t.Errorf("gaps %d, want %d", n.Gaps(), want)
	}
	if slides < 100 || n.Duplicated == 0 || n.Unchecked == 0 {
		t.Errorf("%d slides, counts %+v: the test did not slide, duplicate and fall below the window enough", slides, n)
	}
	t.Logf("%d calls, %d slides, counts %+v, gaps %d", calls, slides, n, n.Gaps())
}

// TestSeqTrackerSlideCost: with the window full, the words its slides copy
// are a few per word of new sequences whatever the budget (sliding a word
// at a time, each word cost a copy of the whole window), and sliding
// allocates nothing.
func TestSeqTrackerSlideCost(t *testing.T) {
	for _, budget := range []uint64{1 << 8, 1 << 12, 1 << 16} {
		tr, seq := fullSeqTracker(budget)
		sp := tr.runs[1][0]
		var copied, slides uint64
		const rounds = 4
		for range rounds * budget { // a new word each
			floor := sp.floor
			tr.receive(1, 0, seq)
			seq += 64
			if sp.floor != floor {
				slides++
				copied += uint64(len(sp.got.w)) - 1 // the words kept; the last one is new
			}
		}
		perWord := float64(copied) / float64(rounds*budget)
		allocs := testing.AllocsPerRun(100, func() {
			for range 64 {
				tr.receive(1, 0, seq)
				seq++
			}
		})
		t.Logf("budget %d words: %d slides, %.2f words copied per new word, %.0f allocations per 64 sequences", budget, slides, perWord, allocs)
		if perWord > 4 || allocs != 0 {
			t.Errorf("budget %d words: %.2f words copied per new word, %.0f allocations per 64 sequences; want at most 4 and none", budget, perWord, allocs)
		}
		if n := tr.counts(); n.Unchecked != 0 || n.Duplicated != 0 {
			t.Errorf("budget %d words: counts %+v", budget, n)
		}
	}
}

// BenchmarkSeqTrackerFull: a sequence's cost once the window is full and
// slides, at budgets up to subBudget: about the same at each.
func BenchmarkSeqTrackerFull(b *testing.B) {
	for _, budget := range []uint64{1 << 10, 1 << 16, subBudget} {
		b.Run(fmt.Sprintf("words=%d", budget), func(b *testing.B) {
			tr, seq := fullSeqTracker(budget)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range uint64(b.N) {
				tr.receive(1, 0, seq+i)
			}
		})
	}
}

// fullSeqTracker is a tracker whose budget one producer (run 1, producer
// 0) filled, a sequence a word, and the sequence that producer sends next.
func fullSeqTracker(budget uint64) (*seqTracker, uint64) {
	tr := newSeqTracker(budget)
	var seq uint64
	for ; tr.words < tr.budget; seq += 64 {
		tr.receive(1, 0, seq)
	}
	return tr, seq
}

// TestSubAccounting (JetStream): bench sub accounts, per run and
// producer, for what a bench pub sent and for payloads this test wrote
// with the header writer: a duplicate, a gap, a producer first seen at
// sequence 3, and foreign messages; the summary, -o json, the notes and
// the timeline say so.
func TestSubAccounting(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn := open(t, srv.URL)
	const name, pubN = "mqctl-bench-subacct", 1000
	run(t, conn, name, Workload{Mode: "pub", Producers: 2, Consumers: 1, Count: pubN, Size: 100}, Knobs{}, 0)

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
	var payloads [][]byte
	bench := func(run uint64, producer uint32, seq uint64) {
		b := make([]byte, 64)
		putHeader(b, header{run: run, producer: producer, seq: seq, intended: int64(seq)})
		payloads = append(payloads, b)
	}
	for _, s := range []uint64{0, 1, 2, 3, 5, 6, 7, 7, 8} { // run 77, producer 0: 4 missing, 7 twice
		bench(77, 0, s)
	}
	bench(77, 1, 0)
	bench(77, 1, 1)
	bench(78, 5, 3) // 0, 1, 2 never received
	payloads = append(payloads, []byte("not a bench payload"), make([]byte, HeaderLen))
	msgs := make([]broker.Message, len(payloads))
	for i := range payloads {
		msgs[i].Value = payloads[i]
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

	delivered := int64(pubN + len(payloads))
	w := Workload{Mode: "sub", Producers: 1, Consumers: 1, Count: delivered, Size: 1024, InFlight: 64}
	_, sp, sc, err := Plan(conn.Broker(), name, w, Knobs{})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	r, err := Run(rctx, Env{Publisher: conn.(broker.Publisher), Subscriber: conn.(broker.Subscriber), Producer: sp, Consumer: sc}, w)
	if err != nil {
		t.Fatal(err)
	}
	want := SubCounts{Runs: 3, Producers: 5, Gaps: 1 + 3, Delivered: delivered}
	if r.Interrupted || r.Sub == nil || *r.Sub != want || r.Received != pubN+8+2+1 || r.Duplicated != 1 || r.Foreign != 2 || r.Lost != 0 {
		t.Fatalf("sub: received %d, duplicated %d, foreign %d, lost %d, %+v; want %d, 1, 2, 0, %+v",
			r.Received, r.Duplicated, r.Foreign, r.Lost, r.Sub, pubN+11, want)
	}
	s := Summarize(r, conn.Broker(), name)
	js, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), fmt.Sprintf(`"sub":{"runs":3,"producers":5,"gaps":4,"delivered":%d}`, delivered)) {
		t.Errorf("-o json has no sub accounting: %s", js)
	}
	rows := map[string]string{}
	for _, row := range s.Table().Rows {
		rows[row[0]] = row[1]
	}
	if _, ok := rows["lost"]; ok {
		t.Errorf("sub table has a lost row: %q", rows)
	}
	if rows["gaps (never received, below a later one)"] != "4" || rows["duplicated"] != "1" || rows["producers seen"] != "5" || rows["foreign (not bench payloads)"] != "2" {
		t.Errorf("table rows %q", rows)
	}
	if notes := s.Notes(); len(notes) != 2 || !strings.Contains(notes[1], "4 sequence numbers were never received") || !strings.Contains(notes[1], "not proof of loss") {
		t.Errorf("notes %q", notes)
	}
	var dups int64
	for _, tk := range r.Timeline {
		dups += tk.Duplicated
	}
	last := s.Timeline[len(s.Timeline)-1]
	if dups != 1 || last.Gaps != 4 {
		t.Errorf("timeline: %d duplicated, gaps %d at the end; want 1 and 4", dups, last.Gaps)
	}
	if perMsg := s.MiBPerSec * (1 << 20) / s.MsgsPerSec; perMsg*float64(delivered) < float64(r.ReceivedBytes)-1 || perMsg*float64(delivered) > float64(r.ReceivedBytes)+1 {
		t.Errorf("throughput: %.1f bytes a message over %d delivered, want %d bytes in all", perMsg, delivered, r.ReceivedBytes)
	}
}
