package broker

import "context"

// NameKind says which names a NameLister lists.
type NameKind int

const (
	// NamesDestinations are topics (Kafka), queues (RabbitMQ) or
	// streams (JetStream): what ls, consume and dlq take.
	NamesDestinations NameKind = iota
	// NamesGroups are consumer groups (Kafka); none elsewhere.
	NamesGroups
	// NamesLag are what lag's NAME arguments select: Kafka groups,
	// RabbitMQ queues, JetStream streams.
	NamesLag
	// NamesConsumers are what offsets reset's GROUP names: Kafka
	// groups, JetStream durable consumers; none on RabbitMQ.
	NamesConsumers
)

// NameLister lists names for shell completion, as cheaply as the broker
// allows (one request where it can) and without counts. A kind that
// means nothing on the broker lists nothing.
type NameLister interface {
	ListNames(ctx context.Context, kind NameKind) ([]string, error)
}
