package lag

import (
	"encoding/json"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestRowJSON(t *testing.T) {
	caughtUp := kafkaRow(0, 0, 0)
	caughtUp.Committed, caughtUp.End = 0, 0
	caughtUp.Member, caughtUp.ClientID, caughtUp.State = "m-1", "svc", "Stable"
	lagging := kafkaRow(3, 12034, 3*time.Minute+2*time.Second)
	emptyQueue := queueRow("jobs", 0)
	emptyQueue.Context = "prod"
	busyQueue := queueRow("jobs", 7)
	busyQueue.Unacked, busyQueue.Consumers, busyQueue.PublishRate, busyQueue.DrainTime = 2, 1, 1.5, 1500*time.Millisecond
	labelled := kafkaRow(3, 12034, 3*time.Minute+2*time.Second)
	labelled.TimeLagOf = TimeLagNextRecord
	stampless := queueRow("jobs", 7)
	stampless.TimeLagOf = TimeLagOldestReady // no time lag: no label
	idle := consumerRow("ORDERS", "worker", 0)
	idle.LastActive = time.Date(2026, 3, 1, 3, 4, 5, 0, time.UTC)

	cases := []struct {
		name string
		row  Row
		want string
	}{
		{"zeros of a caught-up partition are printed", caughtUp,
			`{"broker":"kafka","kind":"partition","group":"orders","topic":"t","partition":0,"committed":0,"end":0,"lag":0,"member":"m-1","client_id":"svc","state":"Stable"}`},
		{"time lag in seconds", lagging,
			`{"broker":"kafka","kind":"partition","group":"orders","topic":"t","partition":3,"committed":1000,"end":13034,"lag":12034,"time_lag_seconds":182}`},
		{"what the time lag is measured from, beside it", labelled,
			`{"broker":"kafka","kind":"partition","group":"orders","topic":"t","partition":3,"committed":1000,"end":13034,"lag":12034,"time_lag_seconds":182,"time_lag_of":"next_record_timestamp"}`},
		{"no label without a time lag", stampless,
			`{"broker":"rabbitmq","kind":"queue","queue":"jobs","lag":7,"ready":7,"unacked":0,"consumers":0,"publish_rate":0,"deliver_rate":0,"ack_rate":0}`},
		{"an empty queue shows its zeros, no offsets", emptyQueue,
			`{"context":"prod","broker":"rabbitmq","kind":"queue","queue":"jobs","lag":0,"ready":0,"unacked":0,"consumers":0,"publish_rate":0,"deliver_rate":0,"ack_rate":0}`},
		{"queue rates and drain time", busyQueue,
			`{"broker":"rabbitmq","kind":"queue","queue":"jobs","lag":7,"ready":7,"unacked":2,"consumers":1,"publish_rate":1.5,"deliver_rate":0,"ack_rate":0,"drain_seconds":1.5}`},
		{"jetstream consumer", idle,
			`{"broker":"nats","kind":"consumer","stream":"ORDERS","consumer":"worker","committed":10,"end":10,"lag":0,"ack_pending":0,"redelivered":0,"waiting":0,"last_active":"2026-03-01T03:04:05Z"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.Marshal(tc.row)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("json\n%s\nwant\n%s", got, tc.want)
			}
			// YAML must carry the same fields and values as JSON.
			y, err := yaml.Marshal(tc.row)
			if err != nil {
				t.Fatal(err)
			}
			var fromYAML, fromJSON map[string]any
			if err := yaml.Unmarshal(y, &fromYAML); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(got, &fromJSON); err != nil {
				t.Fatal(err)
			}
			if a, b := normalize(t, fromYAML), normalize(t, fromJSON); a != b {
				t.Errorf("yaml and json differ\nyaml %s\njson %s", a, b)
			}
		})
	}
}

// normalize re-encodes a decoded document as JSON so YAML's ints and
// timestamps compare equal to JSON's numbers and strings.
func normalize(t *testing.T, m map[string]any) string {
	t.Helper()
	for k, v := range m {
		if ts, ok := v.(time.Time); ok {
			m[k] = ts.Format(time.RFC3339Nano)
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
