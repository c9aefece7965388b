package lag

import (
	"strings"
	"testing"
	"time"

	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/nagios"
)

func kafkaRow(partition int32, lag int64, timeLag time.Duration) Row {
	return Row{Broker: BrokerKafka, Kind: KindPartition, Group: "orders", Topic: "t", Partition: partition,
		Committed: 1000, End: 1000 + lag, Lag: lag, TimeLag: timeLag}
}

func queueRow(name string, lag int64) Row {
	return Row{Broker: BrokerRabbitMQ, Kind: KindQueue, Queue: name, Partition: Unknown, Committed: Unknown, End: Unknown, Lag: lag, Ready: lag}
}

func consumerRow(stream, consumer string, lag int64) Row {
	return Row{Broker: BrokerNATS, Kind: KindConsumer, Stream: stream, Consumer: consumer, Partition: Unknown, Committed: 10, End: 10 + lag, Lag: lag}
}

func TestCheck(t *testing.T) {
	stall := kafkaRow(1, 40, 0)
	rewound := kafkaRow(2, 0, 0)
	warm := kafkaRow(0, 10, 0)
	withContext := kafkaRow(3, 12034, 0)
	withContext.Context = "prod"

	cases := []struct {
		name     string
		rows     []Row
		th       Thresholds
		statuses map[string]Status
		code     nagios.Status
		line     string
	}{
		{"no rows", nil, Thresholds{WarnLag: 1}, nil,
			nagios.Unknown, "UNKNOWN no lag rows to check"},
		{"crit on lag names the biggest first",
			[]Row{kafkaRow(0, 10, 0), kafkaRow(3, 12034, 3*time.Minute+2*time.Second), kafkaRow(1, 5000, 0)},
			Thresholds{WarnLag: 1000, CritLag: 10000}, nil,
			nagios.Critical, "CRIT group=orders topic=t partition=3 lag=12034 time_lag=3m2s; 2 of 3 over thresholds"},
		{"warn on lag", []Row{kafkaRow(0, 10, 0), kafkaRow(1, 5000, 0)},
			Thresholds{WarnLag: 1000, CritLag: 10000}, nil,
			nagios.Warning, "WARN group=orders topic=t partition=1 lag=5000; 1 of 2 over thresholds"},
		{"a lag equal to the limit is over it", []Row{kafkaRow(0, 1000, 0)},
			Thresholds{WarnLag: 1000}, nil,
			nagios.Warning, "WARN group=orders topic=t partition=0 lag=1000; 1 of 1 over thresholds"},
		{"ok names the biggest lag", []Row{kafkaRow(0, 10, 0), kafkaRow(1, 999, 0)},
			Thresholds{WarnLag: 1000, CritLag: 10000}, nil,
			nagios.OK, "OK group=orders topic=t partition=1 lag=999; 0 of 2 over thresholds"},
		{"crit on time lag beats a bigger lag that is only warn",
			[]Row{kafkaRow(0, 5000, time.Second), kafkaRow(1, 5, 10*time.Minute)},
			Thresholds{WarnLag: 1000, CritTime: 5 * time.Minute}, nil,
			nagios.Critical, "CRIT group=orders topic=t partition=1 lag=5 time_lag=10m0s; 2 of 2 over thresholds"},
		{"warn on time lag", []Row{kafkaRow(0, 5, 90*time.Second)},
			Thresholds{WarnTime: time.Minute, CritTime: 5 * time.Minute}, nil,
			nagios.Warning, "WARN group=orders topic=t partition=0 lag=5 time_lag=1m30s; 1 of 1 over thresholds"},
		{"no time lag estimate is unknown", []Row{kafkaRow(0, 5, 0)},
			Thresholds{WarnTime: time.Minute}, nil,
			nagios.Unknown, "UNKNOWN group=orders topic=t partition=0 lag=5 missing=time_lag; 0 of 1 over thresholds, 1 unknown"},
		{"caught up needs no time lag estimate", []Row{kafkaRow(0, 0, 0)},
			Thresholds{WarnTime: time.Minute}, nil,
			nagios.OK, "OK group=orders topic=t partition=0 lag=0; 0 of 1 over thresholds"},
		{"unknown does not hide crit", []Row{kafkaRow(0, 5, 0), kafkaRow(1, 1, 9*time.Minute)},
			Thresholds{CritTime: 5 * time.Minute}, nil,
			nagios.Critical, "CRIT group=orders topic=t partition=1 lag=1 time_lag=9m0s; 1 of 2 over thresholds, 1 unknown"},
		{"rabbitmq queue", []Row{queueRow("orders.q", 20000), queueRow("audit", 3)},
			Thresholds{WarnLag: 100, CritLag: 10000}, nil,
			nagios.Critical, "CRIT queue=orders.q lag=20000; 1 of 2 over thresholds"},
		{"queue names that break the line are quoted", []Row{queueRow(`work "a"; b`, 200)},
			Thresholds{WarnLag: 100}, nil,
			nagios.Warning, `WARN queue="work \"a\"; b" lag=200; 1 of 1 over thresholds`},
		{"jetstream consumer", []Row{consumerRow("ORDERS", "worker", 150), consumerRow("ORDERS", "audit", 2)},
			Thresholds{WarnLag: 100, CritLag: 1000}, nil,
			nagios.Warning, "WARN stream=ORDERS consumer=worker lag=150; 1 of 2 over thresholds"},
		{"context comes first", []Row{withContext},
			Thresholds{CritLag: 10000}, nil,
			nagios.Critical, "CRIT context=prod group=orders topic=t partition=3 lag=12034; 1 of 1 over thresholds"},
		{"rules: stall is crit", []Row{warm, stall},
			Thresholds{Rules: true},
			map[string]Status{warm.Key(): {Code: Warn, Trend: 4}, stall.Key(): {Code: Stall}},
			nagios.Critical, "CRIT group=orders topic=t partition=1 lag=40 status=STALL; 2 of 2 over thresholds"},
		{"rules: rewind is crit even at lag 0", []Row{warm, rewound},
			Thresholds{Rules: true},
			map[string]Status{warm.Key(): {Code: OK}, rewound.Key(): {Code: Rewind}},
			nagios.Critical, "CRIT group=orders topic=t partition=2 lag=0 status=REWIND; 1 of 2 over thresholds"},
		{"rules: warn", []Row{warm, stall},
			Thresholds{Rules: true},
			map[string]Status{warm.Key(): {Code: Warn, Trend: 4}, stall.Key(): {Code: OK}},
			nagios.Warning, "WARN group=orders topic=t partition=0 lag=10 status=WARN; 1 of 2 over thresholds"},
		{"rules: a row without samples is unknown", []Row{warm, stall},
			Thresholds{Rules: true},
			map[string]Status{warm.Key(): {Code: OK}},
			nagios.Unknown, "UNKNOWN group=orders topic=t partition=1 lag=40 missing=status; 0 of 2 over thresholds, 1 unknown"},
		{"rules and time: both missing", []Row{stall},
			Thresholds{Rules: true, WarnTime: time.Minute}, map[string]Status{},
			nagios.Unknown, "UNKNOWN group=orders topic=t partition=1 lag=40 missing=time_lag,status; 0 of 1 over thresholds, 1 unknown"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, line := Check(tc.rows, tc.th, tc.statuses)
			if code != tc.code || line != tc.line {
				t.Errorf("Check = %d %q\nwant    %d %q", code, line, tc.code, tc.line)
			}
		})
	}
}

func TestCheckTieGoesToKeyOrder(t *testing.T) {
	rows := []Row{kafkaRow(2, 500, 0), kafkaRow(1, 500, 0)}
	_, line := Check(rows, Thresholds{WarnLag: 100}, nil)
	if want := "WARN group=orders topic=t partition=1 lag=500; 2 of 2 over thresholds"; line != want {
		t.Errorf("line %q, want %q", line, want)
	}
}

func TestThresholdsValidate(t *testing.T) {
	cases := []struct {
		th   Thresholds
		want string // "" when valid
	}{
		{Thresholds{WarnLag: 10, CritLag: 100}, ""},
		{Thresholds{CritTime: time.Minute}, ""},
		{Thresholds{Rules: true}, ""},
		{Thresholds{WarnLag: 100, CritLag: 10}, "--warn 100 is above --crit 10"},
		{Thresholds{WarnTime: time.Hour, CritTime: time.Minute}, "--warn-time 1h0m0s is above --crit-time 1m0s"},
		{Thresholds{WarnLag: -1}, "--check thresholds must not be negative"},
		{Thresholds{}, "--check needs --warn, --crit, --warn-time, --crit-time or --rules"},
	}
	for _, tc := range cases {
		err := tc.th.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: unexpected error %v", tc.th, err)
		case tc.want != "" && (err == nil || err.Error() != tc.want || !mqerr.Is(err, mqerr.Usage)):
			t.Errorf("%+v: error %v, want usage error %q", tc.th, err, tc.want)
		}
	}
}

// Time limits skip the rows of contexts whose broker has no time lag
// (RabbitMQ among several contexts); the others are still judged on time.
func TestCheckNoTimeContexts(t *testing.T) {
	q := queueRow("q", 5)
	q.Context = "rabbit"
	k := kafkaRow(0, 5, 10*time.Minute)
	k.Context = "kafka"
	th := Thresholds{CritTime: 5 * time.Minute, NoTime: map[string]bool{"rabbit": true}}
	code, line := Check([]Row{q, k}, th, nil)
	if code != nagios.Critical || line != "CRIT context=kafka group=orders topic=t partition=0 lag=5 time_lag=10m0s; 1 of 2 over thresholds" {
		t.Errorf("Check = %d %q", code, line)
	}
	th.NoTime = nil
	if _, line := Check([]Row{q}, th, nil); !strings.Contains(line, "missing=time_lag") {
		t.Errorf("without NoTime a queue lacks time lag: %q", line)
	}
}
