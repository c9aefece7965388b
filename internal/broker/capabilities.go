package broker

import (
	"slices"
	"strings"

	"github.com/mqctl/mqctl/internal/mqerr"
)

// Capabilities is what a driver answers about itself, so that commands
// and job packages (cmd, consume, produce, dlq, lag, envelope) never
// switch on a broker's name. Each name switch outside the drivers maps to
// one field:
//
//   - DestinationKind and DestinationFlag: what a destination is ("topic",
//     "queue", "stream") and the flag that names one (--topic, --queue,
//     --subject); replaces `DestinationIsQueue: conn.Broker() == "rabbitmq"`.
//   - PeekMarksRedelivered, PeekHolds: what a peek costs. RabbitMQ reads by
//     basic.get + nack(requeue), which marks the message redelivered and
//     holds up to the prefetch; Kafka and JetStream read without side effect.
//   - Redelivery: whether a nack/timeout brings a message back (false on
//     Kafka and core NATS); replaces `name == "kafka" || core`.
//   - FilteredPurge: whether purge/move can keep the messages a filter does
//     not match (RabbitMQ consumes and returns them; Kafka can only delete
//     before an offset, so a filter is refused with ErrFilteredPurge's text).
//   - PurgeAfterCopy: whether move deletes its source by a purge after the
//     copies are confirmed (Kafka, JetStream) or acks each one (RabbitMQ).
//   - KeyMeaning: what --key and --key-grep apply to ("" = no keys: the
//     flag is refused).
//   - PartitionOrder, InProgressAck: how consume --exec runs handlers
//     (one queue per partition; a work-in-progress ack every 10 s).
//   - MsgIDDedup: the broker de-duplicates by a message id within a window
//     (JetStream's Nats-Msg-Id), so produce gives each message one and a
//     retried publish is stored once.
//   - MetaKind: which broker-native metadata a Message carries, for the
//     envelope and the dead-letter origin decoders (MetaKafka, MetaAMQP,
//     MetaNATS); a new broker adds a kind and its envelope block.
//   - ReceiptFields: how a publish receipt is described: the Receipt's JSON
//     field names (partition/offset, delivery_tag, stream/seq) in the order
//     a summary prints them.
//   - Flags: per command, the options that apply to this driver among those
//     only some drivers take. CheckFlags refuses any other one that was set,
//     with the one text users see ("--partition applies to kafka only, and
//     this context is nats"), from the registered drivers' lists; the
//     per-broker lists in cmd/produce.go and cmd/consume.go and the checks
//     written again in the drivers go away.
//
// A driver returns its Capabilities from Conn.Capabilities (the Capable
// role); the value is constant per driver. Core NATS differs from
// JetStream only in Redelivery, which the consumer's Core option turns off.
//
// Goal: a fourth broker (say Redis Streams) touches its driver folder
// (including its capabilities.go), one registration line (a blank import
// beside the other three), sandbox and testenv, and nothing else.
type Capabilities struct {
	Name                 string // the family name, for output only ("kafka")
	DestinationKind      string // "topic", "queue", "stream"
	DestinationFlag      string // "topic", "queue", "subject"
	PeekMarksRedelivered bool
	PeekHolds            bool // a peek holds what it read until it ends (prefetch bounds it)
	Redelivery           bool
	FilteredPurge        bool
	PurgeAfterCopy       bool
	KeyMeaning           string // "record key", "routing key", "" when keys do not exist
	MsgIDDedup           bool   // the broker drops a repeated message id (JetStream Nats-Msg-Id): produce sets one per message
	PartitionOrder       bool   // order holds per partition: consume --concurrency keys handlers on it (Kafka)
	InProgressAck        bool   // a long handler can say it is still working, so the message is not redelivered (JetStream)
	MetaKind             MetaKind
	ReceiptFields        []string
	// Flags lists, per command ("produce", "consume", "dlq"), the options
	// only some drivers take that this one does.
	Flags map[string][]string
}

// MetaKind names the broker-native metadata block of a Message.
type MetaKind int

const (
	MetaNone MetaKind = iota
	MetaKafka
	MetaAMQP
	MetaNATS
)

// Capable is implemented by every driver (on its Driver and its Conn).
type Capable interface {
	Capabilities() Capabilities
}

// CapabilitiesOf returns what c's driver says about itself.
func CapabilitiesOf(c Conn) (Capabilities, bool) {
	cc, ok := c.(Capable)
	if !ok {
		return Capabilities{}, false
	}
	return cc.Capabilities(), true
}

// registered lists the capabilities of the registered drivers, one per
// driver (a driver registers several schemes).
func registered() []Capabilities {
	mu.RLock()
	defer mu.RUnlock()
	seen := map[string]bool{}
	var out []Capabilities
	for _, d := range drivers {
		if c, ok := d.(Capable); ok && !seen[c.Capabilities().Name] {
			seen[c.Capabilities().Name] = true
			out = append(out, c.Capabilities())
		}
	}
	slices.SortFunc(out, func(a, b Capabilities) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// CommandFlags lists the flags of command that some registered driver
// takes and another may not, each once, in the drivers' name order.
func CommandFlags(command string) []string {
	var flags []string
	for _, c := range registered() {
		for _, f := range c.Flags[command] {
			if !slices.Contains(flags, f) {
				flags = append(flags, f)
			}
		}
	}
	return flags
}

// FlagOwners names the registered drivers that take flag in command, in
// name order.
func FlagOwners(command, flag string) []string {
	var owners []string
	for _, c := range registered() {
		if slices.Contains(c.Flags[command], flag) {
			owners = append(owners, c.Name)
		}
	}
	return owners
}

// CheckFlags refuses the first flag of command ("produce", "consume",
// "dlq") that set reports given on the command line and that other
// registered drivers take but c's does not, with the one text users see
// ("--from applies to kafka and nats only, and this context is rabbitmq").
func (c Capabilities) CheckFlags(command string, set func(flag string) bool) error {
	var flags []string // in the order the drivers list them
	owners := map[string][]string{}
	for _, o := range registered() {
		if o.Name == c.Name {
			continue
		}
		for _, f := range o.Flags[command] {
			if set(f) && !slices.Contains(c.Flags[command], f) {
				if owners[f] == nil {
					flags = append(flags, f)
				}
				owners[f] = append(owners[f], o.Name)
			}
		}
	}
	if len(flags) == 0 {
		return nil
	}
	f := flags[0]
	return mqerr.Usagef("--%s applies to %s only, and this context is %s", f, strings.Join(owners[f], " and "), c.Name)
}

// CapabilitiesByName returns the capabilities of the registered driver
// whose family name is name ("kafka"), for code that has only the name a
// message or a row carries.
func CapabilitiesByName(name string) (Capabilities, bool) {
	mu.RLock()
	defer mu.RUnlock()
	c, ok := byName[name]
	return c, ok
}

// MetaKindOf is the metadata block the driver named name fills (MetaNone
// for a name no driver registered).
func MetaKindOf(name string) MetaKind {
	c, _ := CapabilitiesByName(name)
	return c.MetaKind
}

// DriverCapabilities returns the capabilities of the driver that url's
// scheme selects, without connecting.
func DriverCapabilities(url string) (Capabilities, bool) {
	d, err := driverFor(url)
	if err != nil {
		return Capabilities{}, false
	}
	c, ok := d.(Capable)
	if !ok {
		return Capabilities{}, false
	}
	return c.Capabilities(), true
}
