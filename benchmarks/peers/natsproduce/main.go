// Command natsproduce is the minimal nats.go JetStream publisher `make bench`
// compares mqctl against: PublishMsgAsync with at most WINDOW pending, then
// waits for every PubAck.
package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: natsproduce URL SUBJECT FILE WINDOW")
		os.Exit(2)
	}
	window, _ := strconv.Atoi(os.Args[4])
	nc, err := nats.Connect(os.Args[1])
	check(err)
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(window))
	check(err)
	f, err := os.Open(os.Args[3])
	check(err)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var futures []jetstream.PubAckFuture
	for sc.Scan() {
		// A full window waits for room, as mqctl's does, instead of
		// failing after nats.go's default 200 ms on a loaded machine.
		fut, err := js.PublishAsync(os.Args[2], append([]byte(nil), sc.Bytes()...), jetstream.WithStallWait(time.Minute))
		check(err)
		futures = append(futures, fut)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		check(ctx.Err())
	}
	failed := 0
	for _, f := range futures {
		select {
		case <-f.Ok():
		case <-f.Err():
			failed++
		}
	}
	if failed > 0 {
		fmt.Fprintln(os.Stderr, "failed:", failed)
		os.Exit(1)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
