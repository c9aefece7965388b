package rabbitmq

import "github.com/mqctl/mqctl/internal/broker"

var capabilities = broker.Capabilities{
	Name:                 "rabbitmq",
	DestinationKind:      "queue",
	DestinationFlag:      "queue",
	PeekMarksRedelivered: true,
	PeekHolds:            true,
	Redelivery:           true,
	FilteredPurge:        true,
	PurgeAfterCopy:       false,
	KeyMeaning:           "",
	MetaKind:             broker.MetaAMQP,
	ReceiptFields:        []string{"delivery_tag"},
	Flags: map[string][]string{
		"produce": {"routing-key", "queue", "persistent", "mandatory", "content-type", "message-id", "correlation-id", "reply-to", "expiration", "priority", "type", "app-id"},
		"dlq":     {"scan-heads", "sample"},
		"bench":   {"persistent", "queue-type", "confirm", "multi-ack"},
	},
}

// Capabilities implements broker.Capable.
func (driver) Capabilities() broker.Capabilities { return capabilities }

// Capabilities implements broker.Capable.
func (c *Conn) Capabilities() broker.Capabilities { return capabilities }
