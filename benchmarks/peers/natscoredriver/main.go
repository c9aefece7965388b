// Command natscoredriver publishes through mqctl's own core NATS driver
// (the broker.Producer that `mqctl produce --core` and `mqctl bench pub
// --core` use), with nothing of the load test around it: COUNT messages
// of SIZE bytes, each stamped with its sequence number and send time,
// done counting them. As bench does, it stamps one message when the
// producer is a broker.Copier (core NATS is), and otherwise a ring of
// WINDOW+1 (a message must not change until its done was called). It is the floor of bench pub --core
// on this driver: what remains of the gap to the raw nats.go loop is the
// driver's, not the load test's.
package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	_ "github.com/mqctl/mqctl/internal/broker/nats"
)

func main() {
	if len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: natscoredriver URL SUBJECT COUNT SIZE WINDOW")
		os.Exit(2)
	}
	count, _ := strconv.Atoi(os.Args[3])
	size, _ := strconv.Atoi(os.Args[4])
	size = max(size, 16) // room for the sequence and the send time
	window, _ := strconv.Atoi(os.Args[5])
	ctx := context.Background()
	conn, err := broker.Open(ctx, broker.Target{URL: os.Args[1], Timeout: 10 * time.Second})
	check(err)
	defer conn.Close()
	prod, err := conn.(broker.Publisher).NewProducer(ctx, broker.ProducerOptions{Destination: os.Args[2], Core: true, InFlight: window})
	check(err)
	var confirmed, failed atomic.Int64
	done := func(_ broker.Receipt, err error) {
		if err != nil {
			failed.Add(1)
			return
		}
		confirmed.Add(1)
	}
	n := window + 1
	if broker.CopiesOnPublish(prod) {
		n = 1
	}
	payloads := make([]byte, n*size)
	msgs := make([]broker.Message, n)
	for i := range msgs {
		msgs[i].Value = payloads[i*size : (i+1)*size]
	}
	start := time.Now()
	for i := range count {
		m := &msgs[i%n]
		binary.BigEndian.PutUint64(m.Value, uint64(i))
		binary.BigEndian.PutUint64(m.Value[8:], uint64(time.Since(start)))
		prod.Publish(ctx, m, done)
	}
	check(prod.Flush(ctx))
	check(prod.Close())
	if f := failed.Load(); f > 0 || confirmed.Load() != int64(count) {
		fmt.Fprintf(os.Stderr, "%d confirmed, %d failed of %d\n", confirmed.Load(), f, count)
		os.Exit(1)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
