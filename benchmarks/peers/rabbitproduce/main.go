// Command rabbitproduce is the minimal amqp091-go publisher `make bench`
// compares mqctl against: persistent messages with publisher confirms to a
// queue through the default exchange, at most WINDOW unconfirmed.
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
		fmt.Fprintln(os.Stderr, "usage: rabbitproduce URL QUEUE FILE WINDOW")
		os.Exit(2)
	}
	window, _ := strconv.Atoi(os.Args[4])
	conn, err := amqp.Dial(os.Args[1])
	check(err)
	defer conn.Close()
	ch, err := conn.Channel()
	check(err)
	check(ch.Confirm(false))
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, window))
	f, err := os.Open(os.Args[3])
	check(err)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	inFlight, nacked := 0, 0
	wait := func() {
		if c := <-confirms; !c.Ack {
			nacked++
		}
		inFlight--
	}
	for sc.Scan() {
		for inFlight >= window {
			wait()
		}
		check(ch.Publish("", os.Args[2], true, false, amqp.Publishing{DeliveryMode: amqp.Persistent, Body: append([]byte(nil), sc.Bytes()...)}))
		inFlight++
	}
	for inFlight > 0 {
		wait()
	}
	if nacked > 0 {
		fmt.Fprintln(os.Stderr, "nacked:", nacked)
		os.Exit(1)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
