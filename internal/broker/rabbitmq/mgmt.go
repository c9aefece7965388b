package rabbitmq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// Management is a client of the RabbitMQ management HTTP API, which knows
// what AMQP cannot tell: which queues exist, their depth and consumers.
type Management struct {
	// base is scheme://host:port[/prefix] without credentials, safe to print.
	base       string
	user, pass string
	client     *http.Client
	// pageSize is how many queues one request asks for.
	pageSize int
}

const defaultPageSize = 500

// newManagement builds the API client for the broker reached at addr:
// t.ManagementURL, or http://HOST:15672 (https://HOST:15671 with TLS), with
// the AMQP credentials unless the URL carries its own.
func newManagement(t broker.Target, useTLS bool, addr string, cred credentials) (*Management, error) {
	m := &Management{user: cred.user, pass: cred.pass, pageSize: defaultPageSize}
	if cred.external {
		// The client certificate identifies us, over https.
		m.user, m.pass = "", ""
	}
	if t.ManagementURL == "" {
		host, _, _ := net.SplitHostPort(addr)
		u := url.URL{Scheme: "http", Host: net.JoinHostPort(host, "15672")}
		if useTLS {
			u = url.URL{Scheme: "https", Host: net.JoinHostPort(host, "15671")}
		}
		m.base = u.String()
	} else {
		if err := broker.CheckHTTPURL("management URL", t.ManagementURL); err != nil {
			return nil, err
		}
		u, _ := url.Parse(t.ManagementURL)
		if u.User != nil {
			m.user = u.User.Username()
			m.pass, _ = u.User.Password()
			u.User = nil
		}
		u.RawQuery, u.Fragment = "", ""
		m.base = strings.TrimSuffix(u.String(), "/")
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if strings.HasPrefix(m.base, "https:") {
		cfg, err := tlsConfig(t.TLS)
		if err != nil {
			return nil, err
		}
		transport.TLSClientConfig = cfg
	}
	m.client = &http.Client{Transport: transport}
	return m, nil
}

// URL is the API's base URL, without credentials.
func (m *Management) URL() string { return m.base }

// Queue is one queue as the management API describes it.
type Queue struct {
	Name  string `json:"name"`
	VHost string `json:"vhost"`
	// Type is classic, quorum or stream.
	Type    string `json:"type"`
	Durable bool   `json:"durable"`
	// Messages, Ready and Unacked are nil until the broker has statistics
	// for the queue (a queue declared a moment ago has none yet).
	Messages  *int64         `json:"messages,omitempty"`
	Ready     *int64         `json:"messages_ready,omitempty"`
	Unacked   *int64         `json:"messages_unacknowledged,omitempty"`
	Consumers int            `json:"consumers"`
	Arguments map[string]any `json:"arguments,omitempty"`
}

// apiQueue is a queue as the API sends it. Fields may be missing or null
// depending on version and statistics; arguments may be [] when empty.
type apiQueue struct {
	Name      string          `json:"name"`
	VHost     string          `json:"vhost"`
	Type      string          `json:"type"`
	Durable   bool            `json:"durable"`
	Messages  *int64          `json:"messages"`
	Ready     *int64          `json:"messages_ready"`
	Unacked   *int64          `json:"messages_unacknowledged"`
	Consumers *int            `json:"consumers"`
	Exclusive bool            `json:"exclusive"`
	Arguments json.RawMessage `json:"arguments"`
	// State and MessageStats are asked for by Lag only.
	State        string        `json:"state"`
	MessageStats *messageStats `json:"message_stats"`
	// Policy, EffectivePolicy and HeadTimestamp are asked for by
	// DeadLetterDestinations only. A quorum queue the broker has no
	// statistics for yet lacks all three.
	Policy          string          `json:"policy"`
	EffectivePolicy json.RawMessage `json:"effective_policy_definition"`
	HeadTimestamp   json.RawMessage `json:"head_message_timestamp"`
}

// messageStats are a queue's message rates, per second, averaged by the
// broker over its last sampling window. The API sends no message_stats
// for a queue that never saw a message, and within it only the
// operations that happened: a nil rate is unknown, treated as 0.
type messageStats struct {
	// PublishCount, DeliverGetCount and AckCount are the cumulative
	// counts (Lag asks for them).
	PublishCount    *int64 `json:"publish"`
	DeliverGetCount *int64 `json:"deliver_get"`
	AckCount        *int64 `json:"ack"`

	Publish      *rate `json:"publish_details"`
	DeliverGet   *rate `json:"deliver_get_details"`
	Ack          *rate `json:"ack_details"`
	DeliverNoAck *rate `json:"deliver_no_ack_details"`
	GetNoAck     *rate `json:"get_no_ack_details"`
}

type rate struct {
	Rate float64 `json:"rate"`
}

func (a apiQueue) queue() Queue {
	q := Queue{
		Name: a.Name, VHost: a.VHost, Type: a.Type, Durable: a.Durable,
		Messages: a.Messages, Ready: a.Ready, Unacked: a.Unacked,
	}
	if a.Consumers != nil {
		q.Consumers = *a.Consumers
	}
	if bytes.HasPrefix(bytes.TrimSpace(a.Arguments), []byte("{")) {
		_ = json.Unmarshal(a.Arguments, &q.Arguments)
	}
	if q.Type == "" {
		// Before 3.8 the API had no type; the argument says it, else classic.
		q.Type = "classic"
		if s, ok := q.Arguments["x-queue-type"].(string); ok && s != "" {
			q.Type = s
		}
	}
	if q.Messages == nil && q.Ready != nil && q.Unacked != nil {
		total := *q.Ready + *q.Unacked
		q.Messages = &total
	}
	return q
}

type queuePage struct {
	Items     []apiQueue `json:"items"`
	Page      int        `json:"page"`
	PageCount int        `json:"page_count"`
}

// queueColumns are the columns Queues asks for: only those it returns,
// which keeps large listings small. (disable_stats would be cheaper
// still, but it drops the consumer count.)
const queueColumns = "name,vhost,type,durable,messages,messages_ready,messages_unacknowledged,consumers,arguments"

// Queues lists the queues of vhost, page by page.
func (m *Management) Queues(ctx context.Context, vhost string) ([]Queue, error) {
	var out []Queue
	err := m.eachQueue(ctx, vhost, queueColumns, func(a apiQueue) { out = append(out, a.queue()) })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eachQueue fetches the queues of vhost with the given columns, one
// request per page of m.pageSize queues, and calls f once per queue in
// name order.
func (m *Management) eachQueue(ctx context.Context, vhost, columns string, f func(apiQueue)) error {
	path := "/api/queues/" + url.PathEscape(vhost)
	q := url.Values{
		"page_size": {strconv.Itoa(m.pageSize)},
		"sort":      {"name"},
		"columns":   {columns},
	}
	// A queue created or deleted between two pages shifts the rest; seen
	// keeps such a shift from listing a queue twice.
	seen := map[string]bool{}
	for page := 1; ; page++ {
		q.Set("page", strconv.Itoa(page))
		var p queuePage
		if err := m.get(ctx, path, q, fmt.Sprintf("vhost %q", vhost), &p); err != nil {
			return err
		}
		for _, a := range p.Items {
			if !seen[a.Name] {
				seen[a.Name] = true
				f(a)
			}
		}
		if page >= p.PageCount {
			return nil
		}
	}
}

// get fetches path and decodes its JSON into out. what names the object
// for a 404.
func (m *Management) get(ctx context.Context, path string, query url.Values, what string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.base+path+"?"+query.Encode(), nil)
	if err != nil {
		return mqerr.New(mqerr.Usage, "management API at %s: %v", m.base, err)
	}
	if m.user != "" {
		req.SetBasicAuth(m.user, m.pass)
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return m.transportError(ctx, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return m.transportError(ctx, err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		if err := json.Unmarshal(body, out); err != nil {
			return mqerr.New(mqerr.Failure, "management API at %s: unexpected answer to %s: %v", m.base, path, err)
		}
		return nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return mqerr.New(mqerr.Auth, "management API at %s refused user %q (%d): %s", m.base, m.user, resp.StatusCode, apiReason(body))
	case resp.StatusCode == http.StatusNotFound:
		return mqerr.New(mqerr.NotFound, "%s not found (management API at %s)", what, m.base)
	}
	return mqerr.New(mqerr.Failure, "management API at %s answered %s to %s: %s", m.base, resp.Status, path, apiReason(body))
}

// apiReason is the "reason" of an API error body, or the start of the body.
func apiReason(body []byte) string {
	var e struct {
		Error  string `json:"error"`
		Reason string `json:"reason"`
	}
	if json.Unmarshal(body, &e) == nil && (e.Reason != "" || e.Error != "") {
		return strings.TrimSpace(e.Error + " " + e.Reason)
	}
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// transportError classifies a request that got no answer. It quotes only
// the inner error: *url.Error would repeat the URL with its query.
func (m *Management) transportError(ctx context.Context, err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return mqerr.New(mqerr.Interrupted, "management API at %s: interrupted", m.base)
	case broker.PastDeadline(ctx), broker.IsTimeout(err), broker.IsTransportError(err):
		// Worded as on every broker: "timed out", "connection refused"...
		return mqerr.New(mqerr.Unreachable, "management API at %s unreachable: %s", m.base, reason(ctx, err))
	}
	return mqerr.New(mqerr.Failure, "management API at %s: %v", m.base, err)
}
