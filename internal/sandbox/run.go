package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/mqctl/mqctl/internal/mqerr"
)

// Options select which brokers Start runs and where.
type Options struct {
	// Ports to listen on; 0 picks a free one.
	KafkaPort, NATSPort, AMQPPort, AMQPAPIPort int
	// Fallback marks the ports above that are defaults rather than the
	// user's choice: when one is taken, Start picks a free port instead
	// and says so on Log. A port not marked must be free.
	Fallback PortFallback
	// DataDir, when set, keeps each broker's state in a subdirectory so a
	// restarted sandbox has its topics, streams and queues back.
	DataDir                     string
	NoKafka, NoNATS, NoRabbitMQ bool
	// Log receives the launcher's diagnostics: ports that were taken,
	// what RabbitMQ's start is waiting for, the node's console.
	Log io.Writer
}

// PortFallback says, per port of Options, whether a taken port falls back
// to a free one.
type PortFallback struct{ Kafka, NATS, AMQP, AMQPAPI bool }

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
	if o.NoKafka && o.NoNATS && o.NoRabbitMQ {
		return nil, mqerr.Usagef("--no-kafka, --no-nats and --no-rabbitmq together leave no broker to start")
	}
	for flag, port := range map[string]int{"--kafka-port": o.KafkaPort, "--nats-port": o.NATSPort, "--amqp-port": o.AMQPPort, "--amqp-api-port": o.AMQPAPIPort} {
		if port < 0 || port > 65535 {
			return nil, mqerr.Usagef("%s %d: want a port from 1 to 65535, or 0 to pick a free one", flag, port)
		}
	}
	if !o.NoRabbitMQ && !RabbitMQAvailable() {
		return nil, errors.New("rabbitmq-server is not installed: apt-get install rabbitmq-server, or pass --no-rabbitmq")
	}
	// Every port is checked before any broker starts, so a taken one is
	// reported at once rather than after RabbitMQ's boot.
	ports := []*portChoice{
		{what: "Kafka", flag: "--kafka-port", port: &o.KafkaPort, fallback: o.Fallback.Kafka, skip: o.NoKafka},
		{what: "NATS", flag: "--nats-port", port: &o.NATSPort, fallback: o.Fallback.NATS, skip: o.NoNATS},
		{what: "RabbitMQ AMQP", flag: "--amqp-port", port: &o.AMQPPort, fallback: o.Fallback.AMQP, skip: o.NoRabbitMQ},
		{what: "RabbitMQ management API", flag: "--amqp-api-port", port: &o.AMQPAPIPort, fallback: o.Fallback.AMQPAPI, skip: o.NoRabbitMQ},
	}
	for _, p := range ports {
		if err := p.resolve(o.Log); err != nil {
			return nil, err
		}
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
		r, err := StartRabbitMQ(ctx, RabbitMQOptions{AMQPPort: o.AMQPPort, APIPort: o.AMQPAPIPort, DataDir: sub("rabbitmq"), Log: o.Log, Progress: o.Log})
		if err != nil {
			s.Stop(ctx)
			return nil, portHint(err, "--amqp-port/--amqp-api-port")
		}
		s.RabbitMQ = r
	}
	return s, nil
}

// portChoice is one port Start is asked to listen on.
type portChoice struct {
	what, flag string
	port       *int
	fallback   bool
	skip       bool
}

// resolve checks that the port is free. A taken port that is only a
// default becomes 0 (a free one), and log says so; a taken port the user
// chose is an error naming the flag to change.
func (p *portChoice) resolve(log io.Writer) error {
	if p.skip || *p.port == 0 {
		return nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*p.port)))
	if err == nil {
		return l.Close()
	}
	if !p.fallback {
		return fmt.Errorf("%s port %d is not free (%w); pass %s 0 to pick a free port", p.what, *p.port, err, p.flag)
	}
	if log != nil {
		fmt.Fprintf(log, "sandbox: %s port %d is taken; using a free port instead\n", p.what, *p.port)
	}
	*p.port = 0
	return nil
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
