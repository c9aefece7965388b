// Command benchsetup creates the destinations `make bench` writes to, so
// that every tool measured starts from the same empty topic, queue or stream.
//
//	benchsetup kafka BROKERS TOPIC PARTITIONS
//	benchsetup rabbitmq URL QUEUE        (durable; deleted first if present)
//	benchsetup nats URL STREAM SUBJECT   (file storage; deleted first if present)
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	switch {
	case len(os.Args) == 5 && os.Args[1] == "kafka":
		err = kafka(ctx, os.Args[2], os.Args[3], os.Args[4])
	case len(os.Args) == 4 && os.Args[1] == "rabbitmq":
		err = rabbitmq(os.Args[2], os.Args[3])
	case len(os.Args) == 5 && os.Args[1] == "nats":
		err = natsStream(ctx, os.Args[2], os.Args[3], os.Args[4])
	default:
		fmt.Fprintln(os.Stderr, "usage: benchsetup kafka BROKERS TOPIC PARTITIONS | rabbitmq URL QUEUE | nats URL STREAM SUBJECT")
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchsetup:", err)
		os.Exit(1)
	}
}

func kafka(ctx context.Context, brokers, topic, parts string) error {
	n, err := strconv.Atoi(parts)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		return err
	}
	defer cl.Close()
	_, err = kadm.NewClient(cl).CreateTopic(ctx, int32(n), 1, nil, topic)
	return err
}

func rabbitmq(url, queue string) error {
	conn, err := amqp.Dial(url)
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if _, err := ch.QueueDelete(queue, false, false, false); err != nil {
		return err
	}
	_, err = ch.QueueDeclare(queue, true, false, false, false, nil)
	return err
}

func natsStream(ctx context.Context, url, stream, subject string) error {
	nc, err := nats.Connect(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	_ = js.DeleteStream(ctx, stream)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{subject}, Storage: jetstream.FileStorage})
	return err
}
