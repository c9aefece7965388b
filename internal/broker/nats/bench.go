package nats

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqctl/mqctl/internal/broker"
)

var _ broker.BenchDestinations = (*Conn)(nil)

// CreateBenchDestination creates stream d.Name capturing subject d.Name
// (nothing for core NATS).
func (c *Conn) CreateBenchDestination(ctx context.Context, d broker.BenchDestination) error {
	if d.Core {
		return nil
	}
	cfg := jetstream.StreamConfig{Name: d.Name, Subjects: []string{d.Name}, Storage: jetstream.FileStorage, Replicas: d.Replicas}
	switch d.Storage {
	case "", "file":
	case "memory":
		cfg.Storage = jetstream.MemoryStorage
	default:
		return fmt.Errorf("storage %q: want file or memory", d.Storage)
	}
	if _, err := c.js.CreateStream(ctx, cfg); err != nil {
		return c.streamErr(err, d.Name)
	}
	return nil
}

// DeleteBenchDestination deletes stream d.Name.
func (c *Conn) DeleteBenchDestination(ctx context.Context, d broker.BenchDestination) error {
	if d.Core {
		return nil
	}
	if err := c.js.DeleteStream(ctx, d.Name); err != nil {
		return c.streamErr(err, d.Name)
	}
	return nil
}
