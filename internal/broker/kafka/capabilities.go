package kafka

import "github.com/mqctl/mqctl/internal/broker"

var capabilities = broker.Capabilities{
	Name:            "kafka",
	DestinationKind: "topic",
	DestinationFlag: "topic",
	Redelivery:      false,
	FilteredPurge:   false,
	PurgeAfterCopy:  true,
	KeyMeaning:      "record key",
	PartitionOrder:  true,
	MetaKind:        broker.MetaKafka,
	ReceiptFields:   []string{"partition", "offset"},
	Flags: map[string][]string{
		"produce": {"partition", "partitioner", "compression", "acks"},
		"consume": {"group", "partition", "from"},
		"dlq":     {"group"},
	},
}

// Capabilities implements broker.Capable.
func (driver) Capabilities() broker.Capabilities { return capabilities }

// Capabilities implements broker.Capable.
func (c *Conn) Capabilities() broker.Capabilities { return capabilities }
