package sandbox

import (
	"context"
	"testing"

	"github.com/mqctl/mqctl/internal/mqerr"
)

// A port outside 0-65535, or no broker at all, is a usage error before
// anything starts.
func TestStartRefusesBadOptions(t *testing.T) {
	for name, o := range map[string]Options{
		"kafka port":    {KafkaPort: 99999, NoNATS: true, NoRabbitMQ: true},
		"nats port":     {NATSPort: -1, NoKafka: true, NoRabbitMQ: true},
		"amqp api port": {AMQPAPIPort: 70000, NoKafka: true, NoNATS: true},
		"no broker":     {NoKafka: true, NoNATS: true, NoRabbitMQ: true},
	} {
		s, err := Start(context.Background(), o)
		if s != nil {
			s.Stop(context.Background())
		}
		if mqerr.KindOf(err) != mqerr.Usage {
			t.Errorf("%s: %v, want a usage error", name, err)
		}
	}
}
