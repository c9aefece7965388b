// Command benchsetup creates the destinations `make bench` writes to, so
// that every tool measured starts from the same empty topic, queue or stream.
//
//	benchsetup kafka BROKERS TOPIC PARTITIONS
//	benchsetup rabbitmq URL QUEUE        (durable; deleted first if present)
//	benchsetup nats URL STREAM SUBJECT   (file storage; deleted first if present)
//	benchsetup kafkagroups BROKERS TOPICS PARTITIONS GROUPS
//	  (topics lag-0.. with a record in every partition, every group
//	  committed at 0 on every partition: GROUPS x TOPICS*PARTITIONS rows)
package main

import (
	"context"
	"errors"
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
	case len(os.Args) == 6 && os.Args[1] == "kafkagroups":
		err = kafkaGroups(ctx, os.Args[2], os.Args[3], os.Args[4], os.Args[5])
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

func kafkaGroups(ctx context.Context, brokers, topics, parts, groups string) error {
	nt, err1 := strconv.Atoi(topics)
	np, err2 := strconv.Atoi(parts)
	ng, err3 := strconv.Atoi(groups)
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	commit := kadm.Offsets{}
	var recs []*kgo.Record
	for t := range nt {
		topic := fmt.Sprintf("lag-%d", t)
		if _, err := adm.CreateTopic(ctx, int32(np), 1, nil, topic); err != nil {
			return err
		}
		for p := range int32(np) {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte("x")})
			commit.Add(kadm.Offset{Topic: topic, Partition: p, At: 0, LeaderEpoch: -1})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return err
	}
	for g := range ng {
		if err := adm.CommitAllOffsets(ctx, fmt.Sprintf("group-%d", g), commit); err != nil {
			return err
		}
	}
	return nil
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
