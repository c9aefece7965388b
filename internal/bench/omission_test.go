package bench

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// stalledRun runs 10 s at 1000 msgs/s on JetStream and stalls the server
// for 1 s after 4 s.
func stalledRun(t *testing.T) *Result {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	proxy := testenv.NewProxy(t, strings.TrimPrefix(srv.URL, "nats://"))
	conn := open(t, "nats://"+proxy.Addr)
	tick, resumed := stallAt(proxy, 4*time.Second, time.Second)
	r := runCtx(t, context.Background(), conn, "mqctl-bench-co", Workload{Mode: "pub", Producers: 1, Consumers: 1, Rate: 1000, Count: 10000, InFlight: 32}, Knobs{}, 0, tick)
	<-resumed
	return r
}

// stallAt returns a Tick callback that pauses proxy for d, at into the
// run: timed from the run's first tick, not from before its setup
// (creating the destination), which a loaded machine can make slow
// enough to move the stall. resumed is closed once the proxy runs again.
func stallAt(proxy *testenv.Proxy, at, d time.Duration) (tick func(Tick), resumed <-chan struct{}) {
	var once sync.Once
	done := make(chan struct{})
	return func(tk Tick) {
		once.Do(func() {
			go func() {
				defer close(done)
				time.Sleep(at - tk.Elapsed)
				proxy.Pause()
				time.Sleep(d)
				proxy.Resume()
			}()
		})
	}, done
}

// TestCoordinatedOmission: a 1 s stall at a fixed rate must show in the
// publish→confirm percentiles, because latency is measured from each
// message's intended send time; measured from the actual send (the
// correction off), the same stall hides behind the blocked producer.
func TestCoordinatedOmission(t *testing.T) {
	if testing.Short() {
		t.Skip("20 s of fixed-rate runs; make reliability runs it")
	}
	r := stalledRun(t)
	p99, maxv := r.Confirm.ValueAtQuantile(99), r.Confirm.Max()
	t.Logf("corrected: p99 %dµs max %dµs over %d", p99, maxv, r.Confirm.TotalCount())
	if r.Confirmed != 10000 {
		t.Fatalf("confirmed %d of 10000 (%s)", r.Confirmed, r.FirstError)
	}
	if p99 < 500_000 || maxv < 900_000 {
		t.Errorf("p99 %dµs, max %dµs: want p99 ≥ 500ms and max ≥ 900ms after a 1 s stall", p99, maxv)
	}

	fromIntended = false
	defer func() { fromIntended = true }()
	r = stalledRun(t)
	p99 = r.Confirm.ValueAtQuantile(99)
	t.Logf("uncorrected: p99 %dµs max %dµs", p99, r.Confirm.Max())
	if p99 >= 500_000 {
		t.Errorf("without the correction p99 is %dµs: the stall should hide, so this test could not tell the correction works", p99)
	}
}

// TestStepOfFallenBehind: a step whose producer fell behind its schedule
// did not keep its rate, even though it sent every scheduled message (late):
// a stall over the schedule's end holds the last messages back, so the
// step's achieved rate is under 95% of the rate and the step fails, with a
// bound loose enough that its p99 alone would pass. The stall starts 1.5 s
// into the run, timed from the run's first tick: timed from before the
// run, slow setup (creating the stream) moved it past the schedule's end.
func TestStepOfFallenBehind(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	proxy := testenv.NewProxy(t, strings.TrimPrefix(srv.URL, "nats://"))
	conn := open(t, "nats://"+proxy.Addr)
	tick, resumed := stallAt(proxy, 1500*time.Millisecond, time.Second)
	r := runCtx(t, context.Background(), conn, "mqctl-bench-behind", Workload{Mode: "pub", Producers: 1, Consumers: 1, Rate: 1000, Duration: 2 * time.Second, InFlight: 32}, Knobs{}, 0, tick)
	<-resumed
	if r.Sent != 2000 || r.Confirmed != 2000 {
		t.Fatalf("sent %d, confirmed %d of the 2000 scheduled (%s)", r.Sent, r.Confirmed, r.FirstError)
	}
	o := StepOf(r)
	st := RateSearch{Bound: time.Minute}.judge(1000, o)
	t.Logf("last send at %s: achieved %.0f msg/s, p99 %dµs", r.SendElapsed, o.Achieved, o.ConfirmP99)
	if o.Achieved >= 950 || st.Passed || !strings.HasPrefix(st.Why, "kept only") {
		t.Errorf("a step held back past its schedule: achieved %.0f msg/s, judged %+v; want under 950 and failed for the rate", o.Achieved, st)
	}
}
