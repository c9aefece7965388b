package nats

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

func TestListStreams(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	bc, err := broker.Open(context.Background(), broker.Target{URL: srv.URL, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer bc.Close()
	conn := bc.(*Conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js := conn.JetStream()

	// Created out of name order, so sorting is what puts them in order.
	streams := []struct {
		name      string
		subjects  []string
		publishTo string
		msgs      int
		durables  int
	}{
		{"ORDERS", []string{"orders.>"}, "orders.eu.new", 7, 1},
		{"AUDIT", []string{"audit.in", "audit.out"}, "audit.out", 3, 0},
	}
	for _, s := range streams {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: s.name, Subjects: s.subjects}); err != nil {
			t.Fatalf("create stream %s: %v", s.name, err)
		}
		for i := range s.msgs {
			if _, err := js.Publish(ctx, s.publishTo, fmt.Appendf(nil, "m%d", i)); err != nil {
				t.Fatalf("publish: %v", err)
			}
		}
		for i := range s.durables {
			if _, err := js.CreateOrUpdateConsumer(ctx, s.name, jetstream.ConsumerConfig{Durable: fmt.Sprintf("worker%d", i)}); err != nil {
				t.Fatalf("create consumer: %v", err)
			}
		}
	}

	got, err := conn.List(ctx, broker.ListQuery{})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("List returned %d destinations, want 2: %+v", len(got), got)
	}
	want := []broker.Destination{
		{Broker: "nats", Type: "stream", Name: "AUDIT", Subjects: []string{"audit.in", "audit.out"}, Messages: 3, Written: 3},
		{Broker: "nats", Type: "stream", Name: "ORDERS", Subjects: []string{"orders.>"}, Messages: 7, Written: 7, Consumers: 1},
	}
	for i, w := range want {
		g := got[i]
		if g.Bytes == 0 {
			t.Errorf("%s: Bytes = 0, want the stream's size", g.Name)
		}
		g.Bytes = 0
		if g.Broker != w.Broker || g.Type != w.Type || g.Name != w.Name || g.Messages != w.Messages ||
			g.Consumers != w.Consumers || g.Written != w.Written || !slices.Equal(g.Subjects, w.Subjects) {
			t.Errorf("destination %d = %+v, want %+v", i, g, w)
		}
	}

	named, err := conn.List(ctx, broker.ListQuery{Names: []string{"ORDERS", "NOPE"}})
	if err != nil || len(named) != 1 || named[0].Name != "ORDERS" {
		t.Errorf("List(ORDERS, NOPE) = %+v, %v; want ORDERS only", named, err)
	}
	// JetStream has no internal streams: --internal is refused, not ignored.
	if ds, err := conn.List(ctx, broker.ListQuery{Internal: true}); ds != nil || !mqerr.Is(err, mqerr.Unsupported) {
		t.Errorf("List(Internal) = %+v, %v; want an Unsupported error", ds, err)
	}
}

// withoutJetStream runs check against a core-only server and against an
// account without JetStream: listing and lag must both be empty, not fail.
func withoutJetStream(t *testing.T, check func(t *testing.T, conn *Conn, ctx context.Context)) {
	tests := []struct {
		name      string
		configure func(*server.Options)
		target    broker.Target
	}{
		{
			name:      "core-only server",
			configure: func(o *server.Options) { o.JetStream = false },
		},
		{
			name: "account without JetStream",
			configure: func(o *server.Options) {
				acc := server.NewAccount("NOJS")
				o.Accounts = []*server.Account{acc}
				o.Users = []*server.User{{Username: "bob", Password: "bob-pass", Account: acc}}
			},
			target: broker.Target{Username: "bob", Password: "bob-pass"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := testenv.NATS(t, sandbox.NATSOptions{Configure: tt.configure})
			conn, ctx := natsConn(t, srv, tt.target)
			check(t, conn, ctx)
		})
	}
}

func TestListWithoutJetStream(t *testing.T) {
	withoutJetStream(t, func(t *testing.T, conn *Conn, ctx context.Context) {
		got, err := conn.List(ctx, broker.ListQuery{})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if got == nil || len(got) != 0 {
			t.Errorf("List = %#v, want an empty, non-nil list", got)
		}
	})
}

// Lag's empty answer without JetStream is explained by WhyEmpty, and dlq
// ls fails with the same error: one line naming the server, exit 1.
func TestWhyEmptyWithoutJetStream(t *testing.T) {
	withoutJetStream(t, func(t *testing.T, conn *Conn, ctx context.Context) {
		err := conn.WhyEmpty(ctx)
		if err == nil || mqerr.ExitCode(err) != mqerr.ExitFailure || !strings.Contains(err.Error(), "JetStream is not enabled on nats at 127.0.0.1:") {
			t.Errorf("WhyEmpty = %v (exit %d), want JetStream not enabled, exit 1", err, mqerr.ExitCode(err))
		}
		ds, err := conn.DeadLetterDestinations(ctx, broker.DeadLetterQuery{})
		if ds != nil || err == nil || err.Error() != conn.WhyEmpty(ctx).Error() {
			t.Errorf("DeadLetterDestinations = %v, %v; want WhyEmpty's error", ds, err)
		}
	})
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn, ctx := natsConn(t, srv, broker.Target{})
	if err := conn.WhyEmpty(ctx); err != nil {
		t.Errorf("WhyEmpty with JetStream = %v, want nil", err)
	}
}
