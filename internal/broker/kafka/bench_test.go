package kafka

import (
	"testing"

	"github.com/mqctl/mqctl/internal/broker"
)

// TestBenchAcks: --acks -1 is acks=all, which the producer already did
// (idempotent), so the plan and the parity line say all and a full
// confirm (the parity line said "kafka acks=-1", not matched); 1 and 0
// stay what they are.
func TestBenchAcks(t *testing.T) {
	for _, c := range []struct {
		acks, planned, confirm string
		full                   bool
	}{
		{"", "all", "kafka acks=all (idempotent)", true},
		{"all", "all", "kafka acks=all (idempotent)", true},
		{"-1", "all", "kafka acks=all (idempotent)", true},
		{"1", "1", "kafka acks=1", false},
		{"0", "0", "kafka acks=0", false},
	} {
		k := broker.BenchKnobs{Acks: c.acks}
		var plan broker.BenchPlan
		if err := (driver{}).PlanBench(broker.BenchRun{Knobs: k, Consumers: 1}, &plan); err != nil {
			t.Fatalf("--acks %q: %v", c.acks, err)
		}
		p := (driver{}).BenchParity(k)
		if plan.Producer.Acks != c.planned || p.Confirm != c.confirm || p.FullConfirm != c.full {
			t.Errorf("--acks %q: planned acks %q, parity %q (full %v); want %q, %q (full %v)",
				c.acks, plan.Producer.Acks, p.Confirm, p.FullConfirm, c.planned, c.confirm, c.full)
		}
	}
	k := broker.BenchKnobs{Acks: "-1", NoIdempotence: true}
	if p := (driver{}).BenchParity(k); p.Confirm != "kafka acks=all (not idempotent)" || !p.FullConfirm {
		t.Errorf("--acks -1 --idempotent=false: parity %+v", p)
	}
}
