package nats

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqctl/mqctl/internal/broker"
)

var _ broker.BenchDestinations = (*Conn)(nil)
var _ broker.BenchPlanner = driver{}

// PlanBench implements broker.BenchPlanner: a JetStream stream capturing
// the subject (nothing to create on core NATS); several consumers share
// the messages through a durable, or a queue group on core NATS.
func (driver) PlanBench(run broker.BenchRun, plan *broker.BenchPlan) error {
	k, d := run.Knobs, &plan.Destination
	switch {
	case k.Core && (k.Storage != "" || k.Replicas != 0):
		return fmt.Errorf("--storage and --replicas shape a JetStream stream; core NATS (--core) stores nothing")
	case k.Storage != "" && k.Storage != "file" && k.Storage != "memory":
		return fmt.Errorf("--storage %q: want file or memory", k.Storage)
	}
	d.Core, d.Storage, d.Replicas = k.Core, k.Storage, k.Replicas
	plan.Producer.Core, plan.Consumer.Core = k.Core, k.Core
	if k.Sync {
		if k.Core {
			return fmt.Errorf("--sync waits for each PubAck; core NATS (--core) has none")
		}
		if run.Batch > 0 {
			return fmt.Errorf("--batch %d and --sync: --sync is a batch of one; give one of them", run.Batch)
		}
		plan.Producer.InFlight = 1
	}
	if run.Consumers > 1 {
		if k.Core {
			plan.Consumer.QueueGroup = d.Name
		} else {
			plan.Consumer.Durable = d.Name
		}
	}
	return nil
}

// BenchParity implements broker.BenchPlanner.
func (driver) BenchParity(k broker.BenchKnobs) broker.BenchParity {
	if k.Core {
		return broker.BenchParity{Confirm: "core nats flush (no confirm)", Disk: "core nats (nothing stored)", Replication: "core nats (nothing stored)"}
	}
	return broker.BenchParity{Confirm: "jetstream PubAck", FullConfirm: true,
		Disk:        "jetstream " + cmp.Or(k.Storage, "file") + " storage",
		Replication: fmt.Sprintf("jetstream R%d", max(k.Replicas, 1))}
}

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
	_, err := c.js.CreateStream(ctx, cfg)
	for try := 0; storeRace(err) && try < 3 && ctx.Err() == nil; try++ {
		// nats-server removes an account's streams directory in a
		// goroutine after deleting its last stream (stream.go,
		// stopWithFlags): a create that races it fails with 10049, "could
		// not create storage directory". The next bench step, or a bench
		// run right after another, creates one just then.
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
		_, err = c.js.CreateStream(ctx, cfg)
	}
	if err != nil {
		return c.streamErr(err, d.Name)
	}
	return nil
}

// storeRace tells a create refused with err_code 10049: the server could
// not create the stream's store.
func storeRace(err error) bool {
	var api *jetstream.APIError
	return errors.As(err, &api) && api.ErrorCode == jetstream.ErrorCode(10049)
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
