package kafka

import (
	"context"
	"fmt"
	"slices"

	"github.com/mqctl/mqctl/internal/broker"
)

var _ broker.BenchDestinations = (*Conn)(nil)
var _ broker.BenchPlanner = driver{}

// PlanBench implements broker.BenchPlanner: the knobs go to the producer
// as they are, records are spread over the partitions round-robin, and
// consumers read from the beginning, in a group named after the topic
// when there are several.
func (driver) PlanBench(run broker.BenchRun, plan *broker.BenchPlan) error {
	k, p := run.Knobs, &plan.Producer
	// Checked here too, not only by the producer, so that a typo is
	// refused naming its flag before the topic is created.
	switch {
	case !slices.Contains([]string{"", "all", "-1", "1", "0"}, k.Acks):
		return fmt.Errorf("--acks %q: want all, 1 or 0", k.Acks)
	case !slices.Contains([]string{"", "none", "gzip", "snappy", "lz4", "zstd"}, k.Compression):
		return fmt.Errorf("--compression %q: want none, gzip, snappy, lz4 or zstd", k.Compression)
	case k.NoIdempotence && acksOf(k.Acks) != "all":
		return fmt.Errorf("--idempotent=false: only acks=all uses the idempotent producer; --acks %s already has none", k.Acks)
	}
	plan.Destination.Partitions = k.Partitions
	p.Acks, p.Compression, p.Partitioner = acksOf(k.Acks), k.Compression, "round-robin"
	p.Linger, p.NoIdempotence = k.Linger, k.NoIdempotence
	plan.Consumer.From = broker.StartPosition{Kind: broker.StartBeginning}
	if run.Consumers > 1 {
		plan.Consumer.Group = plan.Destination.Name // consumers share the partitions
	}
	return nil
}

// BenchParity implements broker.BenchPlanner.
func (driver) BenchParity(k broker.BenchKnobs) broker.BenchParity {
	s := broker.BenchParity{Confirm: "kafka acks=all (idempotent)", FullConfirm: true,
		Disk:        "kafka page cache (flushed by the OS)",
		Replication: fmt.Sprintf("kafka %d partition(s), the broker's default replication factor", max(k.Partitions, 1))}
	switch acks := acksOf(k.Acks); {
	case acks != "all":
		s.Confirm, s.FullConfirm = "kafka acks="+acks, false
	case k.NoIdempotence:
		s.Confirm = "kafka acks=all (not idempotent)"
	}
	return s
}

// CreateBenchDestination creates topic d.Name with d.Partitions (1 when
// zero) and the cluster's default replication.
func (c *Conn) CreateBenchDestination(ctx context.Context, d broker.BenchDestination) error {
	p := int32(d.Partitions)
	if p <= 0 {
		p = 1
	}
	resp, err := c.admin.CreateTopic(ctx, p, -1, nil, d.Name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", d.Name, err)
	}
	return nil
}

// DeleteBenchDestination deletes topic d.Name.
func (c *Conn) DeleteBenchDestination(ctx context.Context, d broker.BenchDestination) error {
	resp, err := c.admin.DeleteTopic(ctx, d.Name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("delete topic %s: %w", d.Name, err)
	}
	return nil
}
