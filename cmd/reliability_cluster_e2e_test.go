package cmd_test

// Issue 15's cluster faults: a JetStream R3 stream on three embedded
// nats-servers whose leader steps down mid-run, and a 3-broker kfake
// cluster whose partition leaders (and group coordinator) move mid-run.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/reliability"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// jsCluster is three embedded nats-servers routed into one JetStream
// cluster, and a connection to the first.
type jsCluster struct {
	url string
	nc  *nats.Conn
	js  jetstream.JetStream
}

func newJSCluster(t *testing.T) *jsCluster {
	t.Helper()
	ports := []int{testenv.ClosedPort(t), testenv.ClosedPort(t), testenv.ClosedPort(t)}
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	var first *sandbox.NATS
	for i, p := range ports {
		srv := testenv.NATS(t, sandbox.NATSOptions{Configure: func(o *server.Options) {
			o.ServerName = fmt.Sprintf("n%d", i)
			o.Cluster.Name = "rel"
			o.Cluster.Host = "127.0.0.1"
			o.Cluster.Port = p
			o.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		}})
		if i == 0 {
			first = srv
		}
	}
	nc, err := nats.Connect(first.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &jsCluster{url: first.URL, nc: nc, js: js}
}

// stream creates an R3 file-storage stream, retrying while the cluster
// elects its meta leader.
func (c *jsCluster) stream(t *testing.T, name, subject string) jetstream.Stream {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s, err := c.js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subject}, Storage: jetstream.FileStorage, Replicas: 3})
		cancel()
		if err == nil {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("create R3 stream %s: %v", name, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// leader is the stream's (or, with consumer, the consumer's) leader; ""
// while the cluster cannot say (an election in progress answers 503).
func (c *jsCluster) leader(stream, consumer string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.js.Stream(ctx, stream)
	if err != nil {
		return ""
	}
	if consumer == "" {
		if info, err := s.Info(ctx); err == nil && info.Cluster != nil {
			return info.Cluster.Leader
		}
		return ""
	}
	cons, err := s.Consumer(ctx, consumer)
	if err != nil {
		return ""
	}
	if info, err := cons.Info(ctx); err == nil && info.Cluster != nil {
		return info.Cluster.Leader
	}
	return ""
}

// stepDown asks the stream's (or the consumer's) leader to step down and
// reports whether another server took over.
func (c *jsCluster) stepDown(t *testing.T, stream, consumer string) bool {
	t.Helper()
	var before string
	for deadline := time.Now().Add(10 * time.Second); before == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		before = c.leader(stream, consumer)
	}
	subject := "$JS.API.STREAM.LEADER.STEPDOWN." + stream
	if consumer != "" {
		subject = "$JS.API.CONSUMER.LEADER.STEPDOWN." + stream + "." + consumer
	}
	msg, err := c.nc.Request(subject, nil, 10*time.Second)
	if err != nil {
		t.Errorf("step down %s: %v", subject, err)
		return false
	}
	var resp struct {
		Error *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil || resp.Error != nil {
		t.Errorf("step down %s: %v %s", subject, err, msg.Data)
		return false
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if now := c.leader(stream, consumer); now != "" && now != before {
			return true
		}
	}
	return false
}

// The leader of an R3 stream steps down mid-produce and (with the
// consumer's leader) mid-consume: nothing is lost.
func TestReliabilityJetStreamLeaderStepDown(t *testing.T) {
	runs := reliability.Runs(t)
	t.Run("produce", func(t *testing.T) {
		t.Parallel()
		s := reliability.Start(t, "JetStream R3 stream (3-node cluster): leader stepped down mid-`produce`")
		const n = 10000
		cl := newJSCluster(t)
		c := newCLI(t)
		dir := t.TempDir()
		for run := range runs {
			stream, subject := fmt.Sprintf("RELSD%d", run), fmt.Sprintf("relsd%d.x", run)
			cl.stream(t, stream, subject)
			in, lines := inputLines(t, stream, n)
			fo := filepath.Join(dir, stream+".failed.jsonl")
			args := []string{"produce", subject, "--url", cl.url, "--file", in, "--confirm-timeout", "5s", "--failed-out", fo}
			code, mid := runWithFault(t, c.command(context.Background(), args...), "", between(100*time.Millisecond, 800*time.Millisecond), func() {
				if cl.stepDown(t, stream, "") {
					s.Count("leader moved")
				}
			})
			if mid {
				s.Count("stepped down mid-run")
			}
			if note := recoverProduce(t, c, code, fo, args[:len(args)-2]...); note != "" {
				s.Count(note)
			}
			record(t, s, lines, streamValues(t, cl.js, stream))
		}
		s.Note("%d lines per run, --confirm-timeout 5s, step-down after 0.1-0.8 s; what failed (no responders during the election, no PubAck in 5 s) went to --failed-out and was resent", n)
	})
	t.Run("consume durable", func(t *testing.T) {
		t.Parallel()
		s := reliability.Start(t, "JetStream R3 stream (3-node cluster): stream and consumer leaders stepped down mid-`consume --consumer`")
		const n = 20000
		cl := newJSCluster(t)
		c := newCLI(t)
		dir := t.TempDir()
		for run := range runs {
			stream, subject := fmt.Sprintf("RELSDC%d", run), fmt.Sprintf("relsdc%d.x", run)
			want := fillDurable(t, cl.js, cl.stream(t, stream, subject), stream, subject, n)
			first, second := filepath.Join(dir, stream+"-1.jsonl"), filepath.Join(dir, stream+"-2.jsonl")
			cmd := c.command(context.Background(), "consume", stream, "--url", cl.url, "--consumer", "dur", "--idle-timeout", "10s", "-o", "jsonl")
			code, mid := runWithFault(t, cmd, first, between(100*time.Millisecond, 1000*time.Millisecond), func() {
				if cl.stepDown(t, stream, "") {
					s.Count("stream leader moved")
				}
				if cl.stepDown(t, stream, "dur") {
					s.Count("consumer leader moved")
				}
			})
			if mid {
				s.Count("stepped down mid-run")
			}
			if code != 0 {
				s.Count(fmt.Sprintf("first run exit %d", code))
			}
			cmd = c.command(context.Background(), "consume", stream, "--url", cl.url, "--consumer", "dur", "--idle-timeout", "4s", "-o", "jsonl")
			if code, _ := runWithFault(t, cmd, second, 0, nil); code != 0 {
				t.Fatalf("second run: exit %d", code)
			}
			record(t, s, want, jsonlValues(t, first, second))
		}
		s.Note("%d messages per run, step-downs after 0.1-1 s; first run --idle-timeout 10s, second 4s (durable ack wait 2 s)", n)
	})
}

// kafkaCluster is a 3-broker kfake cluster, a client of it and its
// brokers' node IDs.
type kafkaCluster struct {
	k     *sandbox.Kafka
	cl    *kgo.Client
	adm   *kadm.Client
	nodes []int32
}

func newKafkaCluster(t *testing.T) *kafkaCluster {
	t.Helper()
	k := testenv.Kafka(t, sandbox.KafkaOptions{Brokers: 3})
	// Round robin: the records the test writes fill every partition.
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	brokers, err := adm.ListBrokers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(brokers) != 3 {
		t.Fatalf("kfake cluster has %d brokers, want 3", len(brokers))
	}
	return &kafkaCluster{k: k, cl: cl, adm: adm, nodes: brokers.NodeIDs()}
}

// topic creates topic with partitions partitions, replication factor 3.
func (c *kafkaCluster) topic(t *testing.T, topic string, partitions int32) {
	t.Helper()
	if _, err := c.adm.CreateTopic(context.Background(), partitions, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
}

// moveLeaders moves the leader of each of topic's partitions to another
// broker, picked at random, and returns how many moved: LeaderFor named
// another broker after the move than before.
func (c *kafkaCluster) moveLeaders(t *testing.T, topic string, partitions int32) int {
	t.Helper()
	moved := 0
	for p := range partitions {
		before := c.k.Cluster().LeaderFor(topic, p)
		var others []int32
		for _, n := range c.nodes {
			if n != before {
				others = append(others, n)
			}
		}
		if err := c.k.Cluster().MoveTopicPartition(topic, p, others[rand.N(len(others))]); err != nil {
			t.Errorf("move the leader of %s/%d: %v", topic, p, err)
			continue
		}
		if after := c.k.Cluster().LeaderFor(topic, p); after != before && after >= 0 {
			moved++
		}
	}
	return moved
}

// moveCoordinator rehashes kfake's group coordinators until group's is on
// another broker (at most 10 tries; each lands on a broker at random) and
// reports whether it moved.
func (c *kafkaCluster) moveCoordinator(group string) bool {
	before := c.k.Cluster().CoordinatorFor(group)
	for range 10 {
		c.k.Cluster().RehashCoordinators()
		if c.k.Cluster().CoordinatorFor(group) != before {
			return true
		}
	}
	return false
}

// gaps are n random pauses in [lo, hi).
func gaps(n int, lo, hi time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = between(lo, hi)
	}
	return out
}

// moveTally counts, over a scenario's runs, the partition leader (and
// coordinator) moves and those that came while mqctl ran.
type moveTally struct {
	leaders, leadersMid int
	coords, coordsMid   int
}

// add counts one run's rounds: per round the leaders moved and whether the
// coordinator moved; the first mid rounds came while mqctl ran. It
// returns the run's moves while mqctl ran.
func (m *moveTally) add(leaders []int, coords []bool, mid int) (leadersMid, coordsMid int) {
	for i, n := range leaders {
		m.leaders += n
		if i < mid {
			leadersMid += n
		}
	}
	for i, moved := range coords {
		if moved {
			m.coords++
			if i < mid {
				coordsMid++
			}
		}
	}
	m.leadersMid += leadersMid
	m.coordsMid += coordsMid
	return leadersMid, coordsMid
}

// The leaders of a 4-partition topic on a 3-broker kfake cluster move
// several times mid-produce and mid-consume: nothing is lost.
func TestReliabilityKafkaLeaderMoves(t *testing.T) {
	runs := reliability.Runs(t)
	t.Run("produce", func(t *testing.T) {
		t.Parallel()
		s := reliability.Start(t, "kfake 3-broker cluster: partition leaders moved mid-`produce` (4 partitions)")
		const n, partitions, rounds = 100000, 4, 40
		kc := newKafkaCluster(t)
		c := newCLI(t)
		dir := t.TempDir()
		var mt moveTally
		for run := range runs {
			topic := fmt.Sprintf("rel-leaders-%d", run)
			kc.topic(t, topic, partitions)
			in, lines := inputLines(t, topic, n)
			fo := filepath.Join(dir, topic+".failed.jsonl")
			args := []string{"produce", topic, "--url", kc.k.URL, "--file", in, "--failed-out", fo}
			var moved []int
			started := func() bool { return kafkaCount(t, kc.adm, topic) > 0 }
			code, mid := runWithFaults(t, c.command(context.Background(), args...), "", started, gaps(rounds, 5*time.Millisecond, 25*time.Millisecond), func() {
				moved = append(moved, kc.moveLeaders(t, topic, partitions))
			})
			if leaders, _ := mt.add(moved, nil, mid); leaders > 0 {
				s.Count("leaders moved mid-run")
			}
			stored := kafkaValues(t, kc.k.Addrs(), topic)
			// After exit 3, a line must be stored or in --failed-out (after
			// exit 0, record below checks that every line is stored).
			if code == 3 {
				if lost, _, missing := lostAndDuplicated(lines, append(stored, failedValues(t, fo)...)); lost > 0 {
					t.Errorf("run %d: exit %d and %d lines neither stored nor in --failed-out, e.g. %v", run, code, lost, missing)
				}
			}
			if note := recoverProduce(t, c, code, fo, args[:len(args)-2]...); note != "" {
				s.Count(note)
				stored = kafkaValues(t, kc.k.Addrs(), topic)
			}
			record(t, s, lines, stored)
		}
		s.Note("%d lines per run; from the first stored record until `produce` ended (at most %d), rounds 5-25 ms apart each moved every partition's leader to another broker: %d leader moves (LeaderFor before and after), %d of them while `produce` ran", n, rounds, mt.leaders, mt.leadersMid)
	})
	t.Run("consume group", func(t *testing.T) {
		t.Parallel()
		s := reliability.Start(t, "kfake 3-broker cluster: partition leaders and the group coordinator moved mid-`consume --group` (4 partitions)")
		const n, partitions, rounds = 50000, 4, 40
		kc := newKafkaCluster(t)
		c := newCLI(t)
		dir := t.TempDir()
		var mt moveTally
		for run := range runs {
			topic := fmt.Sprintf("rel-leaders-c-%d", run)
			kc.topic(t, topic, partitions)
			produceRecords(t, kc.cl, topic, n)
			want := recordValues(n)
			first, second := filepath.Join(dir, topic+"-1.jsonl"), filepath.Join(dir, topic+"-2.jsonl")
			var moved []int
			var coords []bool
			cmd := c.command(context.Background(), "consume", topic, "--url", kc.k.URL, "--group", "g", "--until-end", "-o", "jsonl")
			code, mid := runWithFaults(t, cmd, first, fileHasData(first), gaps(rounds, 20*time.Millisecond, 100*time.Millisecond), func() {
				moved = append(moved, kc.moveLeaders(t, topic, partitions))
				coords = append(coords, kc.moveCoordinator("g"))
			})
			leaders, coordinators := mt.add(moved, coords, mid)
			if leaders > 0 {
				s.Count("leaders moved mid-run")
			}
			if coordinators > 0 {
				s.Count("coordinator moved mid-run")
			}
			if code != 0 {
				// Counted, not failed: what must hold is that a second
				// run fills every gap.
				s.Count(fmt.Sprintf("first run exit %d", code))
			}
			cmd = c.command(context.Background(), "consume", topic, "--url", kc.k.URL, "--group", "g", "--until-end", "-o", "jsonl")
			if code, _ := runWithFault(t, cmd, second, 0, nil); code != 0 {
				t.Fatalf("second run: exit %d", code)
			}
			record(t, s, want, jsonlValues(t, first, second))
		}
		s.Note("%d records per run; from the first output until `consume` ended (at most %d), rounds 20-100 ms apart each moved every partition's leader to another broker and rehashed the group coordinator onto another: %d leader moves (LeaderFor before and after), %d while `consume` ran; %d coordinator moves (CoordinatorFor), %d while it ran; first run --until-end under the moves, second run --until-end without", n, rounds, mt.leaders, mt.leadersMid, mt.coords, mt.coordsMid)
	})
}
