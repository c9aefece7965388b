package broker

import (
	"context"
	"time"
)

// BenchKnobs are the settings of a bench run that only some drivers take
// (the flags each lists in Capabilities.Flags["bench"]) plus --prefetch,
// which every consumer takes; zero values mean defaults. They travel to
// the workers of a distributed run as JSON: the field names are part of
// bench's control protocol.
type BenchKnobs struct {
	// Kafka
	Acks          string        `json:"acks,omitempty"`
	Compression   string        `json:"compression,omitempty"`
	Partitions    int           `json:"partitions,omitempty"`
	Linger        time.Duration `json:"linger,omitempty"`
	NoIdempotence bool          `json:"no_idempotence,omitempty"`
	// RabbitMQ
	Persistent bool   `json:"persistent,omitempty"`
	QueueType  string `json:"queue_type,omitempty"`
	// NoConfirm publishes without publisher confirms (--confirm=false);
	// MultiAck acks every MultiAck deliveries with one multiple ack.
	NoConfirm bool `json:"no_confirm,omitempty"`
	MultiAck  int  `json:"multi_ack,omitempty"`
	// JetStream / NATS; Sync waits for each PubAck before the next
	// publish (natscli bench --sync): an in-flight window of one.
	Sync     bool   `json:"sync,omitempty"`
	Core     bool   `json:"core,omitempty"`
	Storage  string `json:"storage,omitempty"`
	Replicas int    `json:"replicas,omitempty"`
	// Consumers of every broker.
	Prefetch int `json:"prefetch,omitempty"`
}

// BenchRun is what a driver plans a bench run's options from.
type BenchRun struct {
	Knobs BenchKnobs
	// Consumers is how many consumers read the destination; more than one
	// share its messages (a Kafka group, a JetStream durable, a core NATS
	// queue group) instead of each getting all.
	Consumers int
	// Batch is --batch N (0 when not given).
	Batch int
}

// BenchPlan is a bench run's destination and the options of its
// producers and consumers.
type BenchPlan struct {
	Destination BenchDestination
	Producer    ProducerOptions
	Consumer    ConsumerOptions
}

// BenchParity is what a driver's settings promise, for the parity lines
// under `bench --compare`: the confirm a publish waits for, where a
// confirmed message is, and its replication.
type BenchParity struct {
	Confirm string // "kafka acks=all (idempotent)"
	// FullConfirm says Confirm is the broker's full one (Kafka acks=all,
	// RabbitMQ publisher confirms, JetStream PubAck): the confirm settings
	// of a comparison match when every broker's is.
	FullConfirm bool
	Disk        string
	Replication string
}

// BenchPlanner is the bench role of a driver, on its Driver: package
// bench finds it by the family name (DriverAs) and never switches on a
// broker's name.
type BenchPlanner interface {
	// PlanBench completes plan, which holds what every broker shares (the
	// names, the in-flight window, the prefetch), with the driver's own
	// options for run. Its error names the flag at fault (a usage error).
	PlanBench(run BenchRun, plan *BenchPlan) error
	// BenchParity describes a run with knobs k.
	BenchParity(k BenchKnobs) BenchParity
}

// BenchDestination is a destination `mqctl bench` creates for itself and
// deletes at the end: a Kafka topic, a RabbitMQ queue, a JetStream stream
// capturing the subject Name, or nothing at all for core NATS.
type BenchDestination struct {
	Name string
	// Core is core NATS: there is nothing to create.
	Core bool
	// Kafka
	Partitions int
	// RabbitMQ: classic (default), quorum or stream.
	QueueType string
	// JetStream: file (default) or memory, and the replica count.
	Storage  string
	Replicas int
}

// BenchDestinations creates and deletes bench destinations. Create fails
// when Name exists already, so a bench never writes into, or deletes,
// something it did not make.
type BenchDestinations interface {
	CreateBenchDestination(ctx context.Context, d BenchDestination) error
	DeleteBenchDestination(ctx context.Context, d BenchDestination) error
}
