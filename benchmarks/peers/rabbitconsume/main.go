// Command rabbitconsume is the minimal amqp091-go consumer `make bench`
// compares `mqctl consume` against: manual ack with PREFETCH, each body
// written to stdout and the buffer flushed before the batch is acked, until
// N messages were acked.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"

	amqp "github.com/rabbitmq/amqp091-go"
)

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: rabbitconsume URL QUEUE N PREFETCH")
		os.Exit(2)
	}
	n, _ := strconv.Atoi(os.Args[3])
	prefetch, _ := strconv.Atoi(os.Args[4])
	conn, err := amqp.Dial(os.Args[1])
	check(err)
	defer conn.Close()
	ch, err := conn.Channel()
	check(err)
	check(ch.Qos(prefetch, 0, false))
	deliveries, err := ch.Consume(os.Args[2], "", false, false, false, false, nil)
	check(err)
	w := bufio.NewWriterSize(os.Stdout, 256<<10)
	var batch []amqp.Delivery
	for seen := 0; seen < n; {
		d := <-deliveries
		w.Write(d.Body)
		w.WriteByte('\n')
		batch = append(batch, d)
		seen++
		if len(deliveries) == 0 || seen == n {
			check(w.Flush())
			for _, d := range batch {
				check(d.Ack(false))
			}
			batch = batch[:0]
		}
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
