package nats

import "github.com/mqctl/mqctl/internal/broker"

var capabilities = broker.Capabilities{
	Name:            "nats",
	DestinationKind: "stream",
	DestinationFlag: "subject",
	Redelivery:      true, // JetStream; core NATS (--core) has none
	FilteredPurge:   true, // deletes the matching sequences
	PurgeAfterCopy:  true,
	KeyMeaning:      "",
	MsgIDDedup:      true,
	InProgressAck:   true,
	MetaKind:        broker.MetaNATS,
	ReceiptFields:   []string{"stream", "seq"},
	Flags: map[string][]string{
		"produce": {"msg-id", "core"},
		"consume": {"consumer", "filter-subject", "core", "queue-group", "from"},
		"bench":   {"core", "storage", "replicas", "sync"},
		"offsets": {"to-seq", "to-time"},
	},
}

// Capabilities implements broker.Capable.
func (driver) Capabilities() broker.Capabilities { return capabilities }

// Capabilities implements broker.Capable.
func (c *Conn) Capabilities() broker.Capabilities { return capabilities }
