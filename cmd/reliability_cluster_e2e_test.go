package cmd_test

// Issue 15's cluster faults: a JetStream R3 stream on three embedded
// nats-servers whose leader steps down mid-run.

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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
