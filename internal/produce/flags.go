package produce

import (
	"strconv"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// Flags are the command-line options that shape every message of a run,
// as typed; Decoration checks them against each other.
type Flags struct {
	Key        string   // -k; applies when changed("key")
	Headers    []string // -H name=value
	Partition  int32    // --partition; -1 when not given
	RoutingKey string   // --routing-key
	Queue      string   // --queue: the destination is this queue
	Properties broker.AMQPMeta
	Priority   uint8
	MsgID      string // --msg-id template
	// Traceparent is --traceparent: "auto" gives each message without a
	// traceparent header a fresh one.
	Traceparent string
}

// Decoration turns flags into what is added to every message sent with
// p (whose Destination is set); it sets p.Partitioner to manual when
// --partition names one. changed reports whether a flag was given.
func (fl Flags) Decoration(p *broker.ProducerOptions, changed func(string) bool) (Decoration, error) {
	d := Decoration{
		Destination: p.Destination, DestinationIsQueue: p.DestinationIsQueue,
		RoutingKey: fl.RoutingKey, Properties: fl.Properties,
	}
	if e := fl.Properties.Expiration; e != "" {
		// RabbitMQ takes the TTL as text; anything but digits makes it
		// refuse the message (or close the channel), so check it here.
		if _, err := strconv.ParseUint(e, 10, 32); err != nil {
			return d, mqerr.Usagef("--expiration %q: want a whole number of milliseconds, 0 to 4294967295 (60000 is a minute)", e)
		}
	}
	d.Properties.Priority = fl.Priority
	d.Properties.Persistent = p.Persistent
	if fl.Queue != "" {
		if fl.RoutingKey != "" {
			return d, mqerr.Usagef("--queue and --routing-key exclude each other: --queue sends through the default exchange with the queue name as key")
		}
		d.RoutingKey = fl.Queue
	}
	if changed("key") {
		d.Key = []byte(fl.Key)
	}
	for _, h := range fl.Headers {
		hdr, err := ParseHeader(h)
		if err != nil {
			return d, err
		}
		d.Headers = append(d.Headers, hdr)
	}
	if changed("partition") && fl.Partition < 0 {
		return d, mqerr.Usagef("--partition %d: want 0 or more", fl.Partition)
	}
	if fl.Partition >= 0 {
		part := fl.Partition
		d.Partition = &part
		if changed("partitioner") && p.Partitioner != "manual" {
			return d, mqerr.Usagef("--partition sends to one partition: it does not go with --partitioner %s", p.Partitioner)
		}
		p.Partitioner = "manual"
	}
	d.UseInputPartition = p.Partitioner == "manual"
	switch fl.Traceparent {
	case "":
	case "auto":
		d.Traceparent = true
	default:
		return d, mqerr.Usagef("--traceparent %q: want auto (a fresh W3C traceparent for each message without one)", fl.Traceparent)
	}
	if fl.MsgID != "" {
		t, err := ParseMsgIDTemplate(fl.MsgID)
		if err != nil {
			return d, err
		}
		d.MsgID = t
	}
	return d, nil
}
