package kafka

import (
	"context"
	"fmt"

	"github.com/mqctl/mqctl/internal/broker"
)

var _ broker.BenchDestinations = (*Conn)(nil)

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
