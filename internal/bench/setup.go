package bench

import (
	"github.com/mqctl/mqctl/internal/broker"
)

// Knobs are the per-broker settings of a run; zero values mean defaults.
type Knobs = broker.BenchKnobs

// Plan works out the destination to create and the producer and consumer
// options for dest on brokerName: the parts every broker shares here, the
// rest by the driver's broker.BenchPlanner.
func Plan(brokerName, dest string, w Workload, k Knobs) (broker.BenchDestination, broker.ProducerOptions, broker.ConsumerOptions, error) {
	plan := broker.BenchPlan{
		Destination: broker.BenchDestination{Name: dest},
		Producer:    broker.ProducerOptions{Destination: dest, InFlight: w.InFlight},
		Consumer:    broker.ConsumerOptions{Sources: []string{dest}, Prefetch: k.Prefetch},
	}
	planner, err := broker.DriverAs[broker.BenchPlanner](brokerName, "bench")
	if err == nil {
		err = planner.PlanBench(broker.BenchRun{Knobs: k, Consumers: w.Consumers, Batch: w.Batch}, &plan)
	}
	return plan.Destination, plan.Producer, plan.Consumer, err
}
