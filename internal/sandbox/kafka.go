package sandbox

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Kafka is an embedded Kafka-protocol cluster (franz-go's kfake).
type Kafka struct {
	cluster *kfake.Cluster
	// URL is the kafka:// URL of the cluster's seed brokers.
	URL string
}

// KafkaOptions configure StartKafka.
type KafkaOptions struct {
	// Port of the first broker; 0 picks a free one.
	Port int
	// Brokers is the number of brokers (default 1).
	Brokers int
	// DataDir, when set, persists the cluster's state across restarts.
	DataDir string
	// Extra are further kfake options (fault hooks, SASL users, TLS) for tests.
	Extra []kfake.Opt
}

// StartKafka starts an embedded Kafka cluster listening on 127.0.0.1.
func StartKafka(o KafkaOptions) (*Kafka, error) {
	n := o.Brokers
	if n <= 0 {
		n = 1
	}
	ports := make([]int, n)
	if o.Port != 0 {
		for i := range ports {
			ports[i] = o.Port + i
		}
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(n),
		kfake.Ports(ports...),
		kfake.DefaultNumPartitions(4),
		kfake.AllowAutoTopicCreation(),
	}
	if o.DataDir != "" {
		opts = append(opts, kfake.DataDir(o.DataDir))
	}
	opts = append(opts, o.Extra...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start kafka: %w", err)
	}
	url := "kafka://"
	for i, a := range c.ListenAddrs() {
		if i > 0 {
			url += ","
		}
		url += a
	}
	return &Kafka{cluster: c, URL: url}, nil
}

// Cluster exposes kfake for tests that inject faults.
func (k *Kafka) Cluster() *kfake.Cluster { return k.cluster }

// Addrs are the brokers' host:port addresses.
func (k *Kafka) Addrs() []string { return k.cluster.ListenAddrs() }

// Close stops the cluster, flushing persisted state.
func (k *Kafka) Close() { k.cluster.Close() }
