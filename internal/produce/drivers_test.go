package produce

// The drivers register their capabilities, which this package asks by a
// broker's name (broker.MetaKindOf), as mqctl's commands have them.
import (
	_ "github.com/mqctl/mqctl/internal/broker/kafka"
	_ "github.com/mqctl/mqctl/internal/broker/nats"
	_ "github.com/mqctl/mqctl/internal/broker/rabbitmq"
)
