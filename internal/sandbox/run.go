package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"syscall"
)

// Options select which brokers Start runs and where.
type Options struct {
	KafkaPort, NATSPort, AMQPPort, AMQPAPIPort int
	// DataDir, when set, keeps each broker's state in a subdirectory so a
	// restarted sandbox has its topics, streams and queues back.
	DataDir                     string
	NoKafka, NoNATS, NoRabbitMQ bool
	// Log receives the RabbitMQ launcher's diagnostics.
	Log io.Writer
}

// Sandbox is a set of running brokers; unset fields were not started.
type Sandbox struct {
	Kafka    *Kafka
	NATS     *NATS
	RabbitMQ *RabbitMQ
}

// Start starts the selected brokers. On error, what was started is stopped.
func Start(ctx context.Context, o Options) (*Sandbox, error) {
	s := &Sandbox{}
	sub := func(name string) string {
		if o.DataDir == "" {
			return ""
		}
		return filepath.Join(o.DataDir, name)
	}
	if !o.NoKafka {
		k, err := StartKafka(KafkaOptions{Port: o.KafkaPort, DataDir: sub("kafka")})
		if err != nil {
			return nil, portHint(err, "--kafka-port")
		}
		s.Kafka = k
	}
	if !o.NoNATS {
		n, err := StartNATS(NATSOptions{Port: o.NATSPort, StoreDir: sub("nats")})
		if err != nil {
			s.Stop(ctx)
			return nil, portHint(err, "--nats-port")
		}
		s.NATS = n
	}
	if !o.NoRabbitMQ {
		if !RabbitMQAvailable() {
			s.Stop(ctx)
			return nil, errors.New("rabbitmq-server is not installed: apt-get install rabbitmq-server, or pass --no-rabbitmq")
		}
		r, err := StartRabbitMQ(ctx, RabbitMQOptions{AMQPPort: o.AMQPPort, APIPort: o.AMQPAPIPort, DataDir: sub("rabbitmq"), Log: o.Log})
		if err != nil {
			s.Stop(ctx)
			return nil, portHint(err, "--amqp-port/--amqp-api-port")
		}
		s.RabbitMQ = r
	}
	return s, nil
}

// portHint adds the flag to change when a port was taken.
func portHint(err error, flag string) error {
	if errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use") {
		return fmt.Errorf("%w (pass %s 0 to pick a free port)", err, flag)
	}
	return err
}

// Stop stops every running broker, RabbitMQ first since it takes longest.
func (s *Sandbox) Stop(ctx context.Context) error {
	var errs []error
	if s.RabbitMQ != nil {
		errs = append(errs, s.RabbitMQ.Stop(ctx))
		s.RabbitMQ = nil
	}
	if s.NATS != nil {
		s.NATS.Close()
		s.NATS = nil
	}
	if s.Kafka != nil {
		s.Kafka.Close()
		s.Kafka = nil
	}
	return errors.Join(errs...)
}
