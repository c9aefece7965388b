package rabbitmq

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/testenv"
)

// find returns the destination named name, nil when it is not listed.
func find(ds []broker.Destination, name string) *broker.Destination {
	for i := range ds {
		if ds[i].Name == name {
			return &ds[i]
		}
	}
	return nil
}

func deref(p *int64) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

// TestListCounts: ready, unacked and consumers are the broker's exact
// numbers. The API shows a queue's statistics a few seconds late (about
// 5 s for the consumer count on 3.10, even with a 1 s collection
// interval), so the test polls, bounded.
func TestListCounts(t *testing.T) {
	const published, held = 7, 3
	env := testenv.RabbitMQ(t)
	c := open(t, broker.Target{URL: env.AMQPURL, ManagementURL: env.APIURL})
	queue := testenv.UniqueName(t, "counts")
	declare(t, c, queue, nil)
	t.Cleanup(func() {
		if ch, err := c.AMQP().Channel(); err == nil {
			ch.QueueDelete(queue, false, false, false)
			ch.Close()
		}
	})

	pub, err := c.AMQP().Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Confirm(false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range published {
		dc, err := pub.PublishWithDeferredConfirmWithContext(ctx, "", queue, true, false, amqp.Publishing{Body: fmt.Appendf(nil, "m%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := dc.WaitContext(ctx); !ok || err != nil {
			t.Fatalf("publish %d not confirmed: %v", i, err)
		}
	}

	// A consumer holding `held` deliveries: manual ack, prefetch `held`.
	sub, err := c.AMQP().Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Qos(held, 0, false); err != nil {
		t.Fatal(err)
	}
	deliveries, err := sub.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range held {
		select {
		case <-deliveries:
		case <-ctx.Done():
			t.Fatal("consumer got fewer deliveries than its prefetch")
		}
	}

	var got *broker.Destination
	for {
		ds, err := c.List(ctx, broker.ListQuery{})
		if err != nil {
			t.Fatal(err)
		}
		got = find(ds, queue)
		if got != nil && got.Ready != nil && got.Unacked != nil &&
			*got.Ready == published-held && *got.Unacked == held && got.Consumers == 1 {
			break
		}
		select {
		case <-ctx.Done():
			if got == nil {
				t.Fatalf("List never showed queue %s", queue)
			}
			t.Fatalf("List never showed ready=%d unacked=%d consumers=1; last: %+v ready=%s unacked=%s",
				published-held, held, *got, deref(got.Ready), deref(got.Unacked))
		case <-time.After(250 * time.Millisecond):
		}
	}
	want := broker.Destination{Broker: "rabbitmq", Type: "queue", Name: queue, VHost: "/", QueueType: "classic", Messages: published, Consumers: 1, Stats: lag.StatsSampled}
	got.Ready, got.Unacked = nil, nil
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("got %+v, want %+v", *got, want)
	}
}

func TestListQueueTypesSorted(t *testing.T) {
	env := testenv.RabbitMQ(t)
	vhost := newVHost(t, env)
	u, _ := url.Parse(env.AMQPURL)
	u.Path = "/" + vhost
	c := open(t, broker.Target{URL: u.String(), ManagementURL: env.APIURL})

	want := map[string]string{"c-classic": "classic", "b-quorum": "quorum", "a-stream": "stream"}
	for name, typ := range want {
		declare(t, c, name, amqp.Table{"x-queue-type": typ})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ds, err := c.List(ctx, broker.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range ds {
		names = append(names, d.Name)
		if d.QueueType != want[d.Name] || d.VHost != vhost {
			t.Errorf("%s: type %q vhost %q, want %q %q", d.Name, d.QueueType, d.VHost, want[d.Name], vhost)
		}
	}
	if !slices.Equal(names, []string{"a-stream", "b-quorum", "c-classic"}) {
		t.Fatalf("listed %v, want the three queues sorted by name", names)
	}
}

// countingTransport counts the requests that reach the management API.
type countingTransport struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// declareNumbered declares queues q00, q01, … in c's vhost and returns
// their names in order.
func declareNumbered(t *testing.T, c *Conn, n int) []string {
	t.Helper()
	var names []string
	for i := range n {
		name := fmt.Sprintf("q%02d", i)
		declare(t, c, name, nil)
		names = append(names, name)
	}
	return names
}

// countingPages returns a copy of c whose management API client pages by
// pageSize and counts the requests it sends.
func countingPages(c *Conn, pageSize int) (*Conn, *countingTransport) {
	m := *c.Management()
	counter := &countingTransport{next: m.client.Transport}
	m.client = &http.Client{Transport: counter}
	m.pageSize = pageSize
	cc := *c
	cc.mgmt = &m
	return &cc, counter
}

func TestQueuesPages(t *testing.T) {
	env := testenv.RabbitMQ(t)
	vhost := newVHost(t, env)
	c := openVHost(t, env, vhost, env.APIURL)
	want := declareNumbered(t, c, 5)

	tests := []struct {
		pageSize, wantRequests int
	}{
		{pageSize: 2, wantRequests: 3},
		{pageSize: 5, wantRequests: 1},
		{pageSize: 500, wantRequests: 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("page size %d", tt.pageSize), func(t *testing.T) {
			cc, counter := countingPages(c, tt.pageSize)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			qs, err := cc.Management().Queues(ctx, vhost)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, q := range qs {
				got = append(got, q.Name)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
			if n := counter.n.Load(); n != int64(tt.wantRequests) {
				t.Fatalf("%d requests, want %d", n, tt.wantRequests)
			}
		})
	}
}

func TestListErrors(t *testing.T) {
	env := testenv.RabbitMQ(t)
	api, _ := url.Parse(env.APIURL)
	const secret = "s3cr3t-Wr0ng-pw"
	tests := []struct {
		name     string
		mgmtURL  string
		vhost    string
		wantKind mqerr.Kind
		want     []string
	}{
		{
			name: "API unreachable", mgmtURL: "http://127.0.0.1:1",
			wantKind: mqerr.Unreachable,
			want:     []string{"needs the RabbitMQ management API", "http://127.0.0.1:1", "connection refused", "--management-url", "management_url"},
		},
		{
			name: "API refuses the password", mgmtURL: "http://guest:" + secret + "@" + api.Host,
			wantKind: mqerr.Auth,
			want:     []string{"management API at http://" + api.Host + " refused user \"guest\" (401)"},
		},
		{
			name: "vhost unknown to the API", mgmtURL: env.APIURL, vhost: "no-such-vhost",
			wantKind: mqerr.NotFound,
			want:     []string{`vhost "no-such-vhost" not found`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := open(t, broker.Target{URL: env.AMQPURL, ManagementURL: tt.mgmtURL})
			if tt.vhost != "" {
				c.vhost = tt.vhost
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ds, err := c.List(ctx, broker.ListQuery{})
			if err == nil || ds != nil {
				t.Fatalf("List = %v, %v; want no destinations and an error", ds, err)
			}
			if mqerr.KindOf(err) != tt.wantKind {
				t.Errorf("kind %v, want %v: %v", mqerr.KindOf(err), tt.wantKind, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error leaks the password: %q", err)
			}
		})
	}
}

// The shared listing of a refresh (broker.ShareReads) answers List, Lag
// and DeadLetterDestinations, so it asks every column each of them asks.
func TestSharedColumnsCoverEveryRole(t *testing.T) {
	shared := strings.Split(sharedColumns, ",")
	for _, cols := range []string{queueColumns, lagColumns, dlqColumns} {
		for _, c := range strings.Split(cols, ",") {
			if !slices.Contains(shared, c) {
				t.Errorf("sharedColumns lacks %q", c)
			}
		}
	}
}
