package bench

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// model is a broker that confirms up to capacity msgs/s, with p99 under
// 1 ms up to knee and 1 s above it.
func model(capacity, knee float64) func(context.Context, float64) (StepOutcome, error) {
	return func(_ context.Context, rate float64) (StepOutcome, error) {
		if rate == 0 {
			return StepOutcome{Achieved: capacity, ConfirmP99: 900_000}, nil
		}
		o := StepOutcome{Achieved: min(rate, capacity), ConfirmP99: 800}
		if rate > knee {
			o.ConfirmP99 = 1_000_000
		}
		return o, nil
	}
}

func TestRateSearchFindsTheKnee(t *testing.T) {
	var reported int
	r, err := RateSearch{Bound: 50 * time.Millisecond}.Run(context.Background(), model(10000, 8000), func(Step) { reported++ })
	if err != nil {
		t.Fatal(err)
	}
	if !r.Found || r.BestRate > 8000 || r.BestRate < 8000*0.95 {
		t.Fatalf("best %v found %v, want within 5%% under 8000; steps %+v", r.BestRate, r.Found, r.Steps)
	}
	if reported != len(r.Steps) || len(r.Steps) > 11 || r.Steps[0].Rate != 0 {
		t.Errorf("%d reported, steps %+v", reported, r.Steps)
	}
	for _, st := range r.Steps[1:] {
		if st.Passed != (st.Rate <= 8000) {
			t.Errorf("step %+v judged wrong", st)
		}
	}
}

func TestRateSearchPassAtCeilingStops(t *testing.T) {
	r, _ := RateSearch{Bound: time.Second}.Run(context.Background(), model(5000, 1e9), nil)
	if !r.Found || r.BestRate != 5000 || len(r.Steps) != 2 {
		t.Fatalf("%+v", r)
	}
}

func TestRateSearchNothingPasses(t *testing.T) {
	r, err := RateSearch{Bound: time.Millisecond}.Run(context.Background(), model(5000, 0), nil)
	if err != nil || r.Found || r.BestRate != 0 || len(r.Steps) != 11 {
		t.Fatalf("err %v result %+v", err, r)
	}
	for i := 2; i < len(r.Steps); i++ {
		if r.Steps[i].Rate != r.Steps[i-1].Rate/2 {
			t.Errorf("step %d rate %v, want half of %v", i, r.Steps[i].Rate, r.Steps[i-1].Rate)
		}
	}
}

func TestRateSearchLossOrShortfallFails(t *testing.T) {
	s := RateSearch{Bound: time.Second}
	for _, c := range []struct {
		o   StepOutcome
		why string
	}{
		{StepOutcome{Achieved: 100, Lost: 2}, "2 lost"},
		{StepOutcome{Achieved: 100, Failed: 1}, "1 failed"},
		{StepOutcome{Achieved: 90}, "kept only 90 msg/s"},
		{StepOutcome{Achieved: 100, ConfirmP99: 2_000_000}, "p99 2s over 1s"},
	} {
		if st := s.judge(100, c.o); st.Passed || st.Why != c.why {
			t.Errorf("%+v: %+v, want fail %q", c.o, st, c.why)
		}
	}
	if st := s.judge(100, StepOutcome{Achieved: 96, ConfirmP99: 10}); !st.Passed {
		t.Errorf("%+v", st)
	}
}

func TestRateSearchStopsOnError(t *testing.T) {
	boom := errors.New("broker gone")
	n := 0
	_, err := RateSearch{Bound: time.Second}.Run(context.Background(), func(context.Context, float64) (StepOutcome, error) {
		n++
		if n == 2 {
			return StepOutcome{}, boom
		}
		return StepOutcome{Achieved: 1000, ConfirmP99: 5_000_000}, nil
	}, nil)
	if !errors.Is(err, boom) || n != 2 {
		t.Fatalf("err %v after %d steps", err, n)
	}
}

func TestParity(t *testing.T) {
	got := Parity([]string{"kafka", "rabbitmq", "nats", "kafka"}, Knobs{Replicas: 3, QueueType: "quorum"})
	want := []string{
		"confirm (matched): kafka acks=all (idempotent) ↔ rabbitmq publisher confirms ↔ jetstream PubAck",
		"disk: kafka page cache (flushed by the OS) ↔ rabbitmq on disk before the confirm ↔ jetstream file storage",
		"replication: kafka 1 partition(s), the broker's default replication factor ↔ rabbitmq quorum queue (Raft over the cluster's nodes) ↔ jetstream R3",
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
	if got := Parity([]string{"kafka", "nats"}, Knobs{Acks: "1"}); !strings.HasPrefix(got[0], "confirm (NOT matched): kafka acks=1") {
		t.Errorf("%q", got[0])
	}
	if got := Parity([]string{"rabbitmq", "nats"}, Knobs{Core: true}); !strings.Contains(got[0], "NOT matched") || !strings.Contains(got[1], "transient") {
		t.Errorf("%q", got)
	}
}

func TestPlanKnobs(t *testing.T) {
	w := Workload{InFlight: 256, Consumers: 1}
	_, p, _, err := Plan("nats", "d", w, Knobs{Sync: true})
	if err != nil || p.InFlight != 1 {
		t.Errorf("--sync: in flight %d, err %v; want 1", p.InFlight, err)
	}
	if _, _, _, err := Plan("nats", "d", w, Knobs{Sync: true, Core: true}); err == nil || !strings.Contains(err.Error(), "--sync") {
		t.Errorf("--sync --core: err %v", err)
	}
	// The JetStream knobs: a bad --storage, or either knob on core NATS
	// where nothing is stored, is refused naming the flag.
	for _, k := range []Knobs{{Storage: "disk"}, {Core: true, Storage: "memory"}, {Core: true, Storage: "file"}, {Core: true, Replicas: 3}} {
		if _, _, _, err := Plan("nats", "d", w, k); err == nil || !strings.Contains(err.Error(), "--storage") {
			t.Errorf("%+v: err %v, want a refusal naming --storage", k, err)
		}
	}
	if _, _, _, err := Plan("nats", "d", w, Knobs{Storage: "memory", Replicas: 1}); err != nil {
		t.Errorf("--storage memory --replicas 1: %v", err)
	}
	// RabbitMQ's: a stream queue gives every consumer all of it, so
	// several consumers would read each message several times.
	if _, _, _, err := Plan("rabbitmq", "d", Workload{InFlight: 256, Consumers: 2}, Knobs{QueueType: "stream"}); err == nil || !strings.HasPrefix(err.Error(), "--consumers 2") {
		t.Errorf("--queue-type stream --consumers 2: err %v", err)
	}
	if _, _, _, err := Plan("rabbitmq", "d", w, Knobs{QueueType: "stream"}); err != nil {
		t.Errorf("--queue-type stream --consumers 1: %v", err)
	}
	// Kafka's: a typo in --acks or --compression is refused naming it, as
	// is --idempotent=false where acks is not all (-1 is all).
	for flag, k := range map[string]Knobs{"--acks": {Acks: "2"}, "--compression": {Compression: "brotli"},
		"--idempotent=false": {Acks: "1", NoIdempotence: true}} {
		if _, _, _, err := Plan("kafka", "d", w, k); err == nil || !strings.HasPrefix(err.Error(), flag) {
			t.Errorf("%+v: err %v, want a refusal naming %s", k, err, flag)
		}
	}
	for _, acks := range []string{"", "all", "-1"} {
		_, p, _, err = Plan("kafka", "d", w, Knobs{Acks: acks, Linger: 5 * time.Millisecond, NoIdempotence: true})
		if err != nil || p.Acks != "all" || p.Linger != 5*time.Millisecond || !p.NoIdempotence || p.InFlight != 256 {
			t.Errorf("kafka knobs with --acks %q: %+v, err %v", acks, p, err)
		}
	}
}
