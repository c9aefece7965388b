package lag

import (
	"strconv"
	"testing"
)

func BenchmarkSort50k(b *testing.B) {
	var base []Row
	for g := range 100 {
		for t := range 10 {
			for p := range 50 {
				base = append(base, Row{Broker: BrokerKafka, Kind: KindPartition, Group: "group-" + strconv.Itoa(1000+g), Topic: "topic-" + strconv.Itoa(t), Partition: int32(p), Lag: int64(p % 7)})
			}
		}
	}
	rows := make([]Row, len(base))
	for b.Loop() {
		copy(rows, base)
		Sort(rows)
	}
}
