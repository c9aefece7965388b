// Command natsproduce is the minimal nats.go JetStream publisher `make bench`
// compares mqctl against: PublishMsgAsync with at most WINDOW pending, then
// waits for every PubAck. With a fifth argument, msgid, each message gets a
// Nats-Msg-Id of a run id and its number, as `mqctl produce` gives by
// default, which the stream records to de-duplicate.
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
	if len(os.Args) != 5 && (len(os.Args) != 6 || os.Args[5] != "msgid") {
		fmt.Fprintln(os.Stderr, "usage: natsproduce URL SUBJECT FILE WINDOW [msgid]")
		os.Exit(2)
	}
	withID := len(os.Args) == 6
	runID := strconv.FormatInt(time.Now().UnixNano(), 16) + "-"
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
	for n := 1; sc.Scan(); n++ {
		// A full window waits for room, as mqctl's does, instead of
		// failing after nats.go's default 200 ms on a loaded machine.
		opts := []jetstream.PublishOpt{jetstream.WithStallWait(time.Minute)}
		if withID {
			opts = append(opts, jetstream.WithMsgID(runID+strconv.Itoa(n)))
		}
		fut, err := js.PublishAsync(os.Args[2], append([]byte(nil), sc.Bytes()...), opts...)
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
