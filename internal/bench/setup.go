package bench

import (
	"fmt"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
)

// Knobs are the per-broker settings of a run; zero values mean defaults.
type Knobs struct {
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

// Plan works out the destination to create and the producer and consumer
// options for dest on brokerName.
func Plan(brokerName, dest string, w Workload, k Knobs) (broker.BenchDestination, broker.ProducerOptions, broker.ConsumerOptions, error) {
	d := broker.BenchDestination{Name: dest}
	p := broker.ProducerOptions{Destination: dest, InFlight: w.InFlight}
	c := broker.ConsumerOptions{Sources: []string{dest}, Prefetch: k.Prefetch}
	switch brokerName {
	case "kafka":
		d.Partitions = k.Partitions
		p.Acks, p.Compression, p.Partitioner = k.Acks, k.Compression, "round-robin"
		p.Linger, p.NoIdempotence = k.Linger, k.NoIdempotence
		c.From = broker.StartPosition{Kind: broker.StartBeginning}
		if w.Consumers > 1 {
			c.Group = dest // consumers share the partitions
		}
	case "rabbitmq":
		switch k.QueueType {
		case "", "classic", "quorum", "stream":
		default:
			return d, p, c, fmt.Errorf("--queue-type %q: want classic, quorum or stream", k.QueueType)
		}
		d.QueueType = k.QueueType
		p.DestinationIsQueue, p.Persistent, p.Mandatory, p.NoConfirm = true, k.Persistent, true, k.NoConfirm
		c.MultiAck = k.MultiAck
	case "nats":
		d.Core, d.Storage, d.Replicas = k.Core, k.Storage, k.Replicas
		p.Core, c.Core = k.Core, k.Core
		if k.Sync {
			if k.Core {
				return d, p, c, fmt.Errorf("--sync waits for each PubAck; core NATS (--core) has none")
			}
			if w.Batch > 0 {
				return d, p, c, fmt.Errorf("--batch %d and --sync: --sync is a batch of one; give one of them", w.Batch)
			}
			p.InFlight = 1
		}
		if w.Consumers > 1 {
			// Consumers share the messages instead of each getting all.
			if k.Core {
				c.QueueGroup = dest
			} else {
				c.Durable = dest
			}
		}
	default:
		return d, p, c, fmt.Errorf("bench does not know broker %q", brokerName)
	}
	return d, p, c, nil
}
