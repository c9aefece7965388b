package broker_test

import (
	"testing"

	"github.com/mqctl/mqctl/internal/broker"
	_ "github.com/mqctl/mqctl/internal/broker/kafka"
	_ "github.com/mqctl/mqctl/internal/broker/nats"
	_ "github.com/mqctl/mqctl/internal/broker/rabbitmq"
	"github.com/mqctl/mqctl/internal/mqerr"
)

func capsOf(t *testing.T, url string) broker.Capabilities {
	t.Helper()
	c, ok := broker.DriverCapabilities(url)
	if !ok {
		t.Fatalf("no capabilities for %s", url)
	}
	return c
}

// TestCheckFlags: a driver refuses, with the text cmd gave, a flag that
// only another driver takes, and accepts its own and the common ones.
func TestCheckFlags(t *testing.T) {
	set := func(names ...string) func(string) bool {
		return func(f string) bool {
			for _, n := range names {
				if n == f {
					return true
				}
			}
			return false
		}
	}
	nats := capsOf(t, "nats://h:4222")
	err := nats.CheckFlags("produce", set("partition"))
	if want := "--partition applies to kafka only, and this context is nats"; err == nil || err.Error() != want || mqerr.KindOf(err) != mqerr.Usage {
		t.Errorf("nats produce --partition: %v, want usage error %q", err, want)
	}
	if err := nats.CheckFlags("produce", set("msg-id", "core", "header")); err != nil {
		t.Errorf("nats produce --msg-id --core: %v", err)
	}
	amqp := capsOf(t, "amqp://h/")
	if err := amqp.CheckFlags("consume", set("group")); err == nil {
		t.Error("rabbitmq consume --group: accepted")
	}
	if err := capsOf(t, "kafka://h:9092").CheckFlags("dlq", set("sample")); err == nil {
		t.Error("kafka dlq --sample: accepted")
	}
}

// TestDriverAs: a role is found by the driver's family name; a driver
// without it is Unsupported, and a name no driver registered is said so.
func TestDriverAs(t *testing.T) {
	for _, name := range []string{"kafka", "nats", "rabbitmq"} {
		if _, err := broker.DriverAs[broker.BenchPlanner](name, "bench"); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	_, err := broker.DriverAs[broker.Purger]("kafka", "purge")
	if want := "purge is not supported on kafka"; err == nil || err.Error() != want || mqerr.KindOf(err) != mqerr.Unsupported {
		t.Errorf("kafka driver as Purger: %v, want unsupported %q", err, want)
	}
	_, err = broker.DriverAs[broker.BenchPlanner]("redis", "bench")
	if want := `bench does not know broker "redis"`; err == nil || err.Error() != want {
		t.Errorf("redis: %v, want %q", err, want)
	}
}
