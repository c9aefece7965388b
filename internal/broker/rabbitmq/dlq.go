package rabbitmq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

var (
	_ broker.DeadLetters = (*Conn)(nil)
	_ broker.Purger      = (*Conn)(nil)
)

// dlqColumns are what DeadLetterDestinations asks of /api/queues: how a
// queue dead-letters, and its depth and head.
const dlqColumns = "name,type,arguments,policy,effective_policy_definition," +
	"messages,messages_ready,messages_unacknowledged,consumers,exclusive,head_message_timestamp"

// maxWhySources is how many source queues a Why names before "and N more".
const maxWhySources = 3

// DeadLetterDestinations implements broker.DeadLetters for the
// connection's vhost, from the management API. A queue is a dead-letter
// queue when another queue's dead letters reach it: the dead-letter
// exchange and routing key come from the queue's x-dead-letter-exchange
// and x-dead-letter-routing-key arguments, else from its policy
// (dead-letter-exchange, dead-letter-routing-key), each setting on its
// own, as the broker does. Through the default exchange they reach the
// queue the key names; through another exchange the queues its bindings
// (followed through exchange-to-exchange bindings) route the key to, or,
// without a dead-letter key, every queue bound to it, since the broker
// then keeps each message's own routing keys. A queue whose name matches
// one of q.Patterns (broker.DefaultDeadLetterPatterns when nil) is one
// too.
//
// With q.ScanHeads, a classic queue that is none of these, has ready
// messages and no consumer is one too when its first message carries
// x-death: dead letters left where a dead-letter exchange no longer
// leads, or moved there by hand. The message is read with basic.get and
// put back at once (nack with requeue), so it keeps its place and is
// marked redelivered. Quorum queues are not read: there a return counts
// as a delivery attempt, which a delivery limit would end in dropping the
// message. Queues with consumers (counted again just before reading) are
// not read, so no consumer is raced.
//
// Messages is ready + unacked; for a queue the broker has no statistics
// for yet (declared a few seconds ago or just after a restart, longer for
// a quorum queue) it is the ready count of a passive declare. Oldest is
// the timestamp property of the queue's head message when the broker
// tells it (classic queues, messages that carry one), else zero.
//
// When the management API cannot be reached, the error wraps
// broker.ErrCannotList: AMQP cannot enumerate queues or bindings.
func (c *Conn) DeadLetterDestinations(ctx context.Context, q broker.DeadLetterQuery) ([]broker.DeadLetterDestination, error) {
	f := &dlqFinder{c: c, exchanges: map[string]*exchangeRoutes{}}
	queues, err := c.queues(ctx, dlqColumns)
	if err != nil {
		return nil, noAPIForDLQ(err)
	}
	exists := make(map[string]bool, len(queues))
	for _, a := range queues {
		exists[a.Name] = true
	}
	// sources[dlq] are the queues dead-lettering into dlq, with how.
	sources := map[string][]string{}
	for _, a := range queues {
		s, err := f.setting(ctx, a)
		if err != nil {
			return nil, err
		}
		if s == nil {
			continue
		}
		dlqs, err := f.deadLetterQueues(ctx, s)
		if err != nil {
			return nil, err
		}
		for _, d := range dlqs {
			if d != a.Name && exists[d] && !retryQueueOf(a, d) {
				sources[d] = append(sources[d], fmt.Sprintf("%s (%s)", a.Name, s.how))
			}
		}
	}

	whys := make([]string, len(queues))
	var unnamed []string // queues worth reading the head of
	for i, a := range queues {
		why, err := dlqWhy(a.Name, sources[a.Name], q.Patterns)
		if err != nil {
			return nil, err
		}
		whys[i] = why
		if why == "" && q.ScanHeads && headWorthReading(a) {
			unnamed = append(unnamed, a.Name)
		}
	}
	if len(unnamed) > 0 {
		dead, err := c.deadLetterHeads(ctx, unnamed)
		if err != nil {
			return nil, err
		}
		for i, a := range queues {
			if dead[a.Name] {
				whys[i] = "holds dead letters (x-death on its first message)"
			}
		}
	}

	var names []string
	for i, a := range queues {
		if whys[i] != "" {
			names = append(names, a.Name)
		}
	}
	// The API's counts can be seconds behind the queues (its statistics
	// interval): a dead-letter count is read exactly, by passive declare,
	// so that `dlq ls --check` never calls a filling DLQ empty.
	exact, err := c.exactCounts(ctx, names)
	if err != nil {
		return nil, err
	}
	var out []broker.DeadLetterDestination
	for i, a := range queues {
		e, ok := exact[a.Name]
		if whys[i] == "" || !ok { // not a DLQ, or deleted since listed
			continue
		}
		out = append(out, broker.DeadLetterDestination{Broker: "rabbitmq", Type: "queue", Name: a.Name, Why: whys[i], Oldest: headTime(a.HeadTimestamp), Messages: int64(e.Messages)})
	}
	slices.SortFunc(out, func(x, y broker.DeadLetterDestination) int { return strings.Compare(x.Name, y.Name) })
	return out, nil
}

// retryQueueOf reports whether a is one of queue's delayed-retry queues
// (see retry.go): its dead letters are messages coming back to be
// handled again, which does not make queue a dead-letter queue.
func retryQueueOf(a apiQueue, queue string) bool {
	_, ttl := a.queue().Arguments["x-message-ttl"]
	return ttl && strings.HasPrefix(a.Name, queue+".retry.")
}

// headWorthReading is a classic queue with ready messages and no
// consumer, as the API last counted them, that another connection does
// not hold exclusively.
func headWorthReading(a apiQueue) bool {
	qu := a.queue()
	return qu.Type == "classic" && !a.Exclusive && a.Ready != nil && *a.Ready > 0 && a.Consumers != nil && *a.Consumers == 0
}

// deadLetterHeads reads the first message of each queue, on a channel of
// its own, and says which carry x-death. Each message is put back before
// the next queue is read. A queue deleted, emptied or consumed from since
// it was listed, or one the user may not read, is not one.
func (c *Conn) deadLetterHeads(ctx context.Context, queues []string) (map[string]bool, error) {
	return aside(ctx, func() (map[string]bool, error) {
		dead := map[string]bool{}
		var ch *amqp.Channel
		defer func() {
			if ch != nil {
				ch.Close()
			}
		}()
		for _, queue := range queues {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if ch == nil {
				var err error
				if ch, err = c.conn.Channel(); err != nil {
					return nil, c.destinationError(err, "queue", queue)
				}
			}
			// The API's consumer counts are seconds old: a consumer
			// that came since would get the second message while the
			// first is held here, and see them out of order.
			q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
			if err == nil && q.Consumers > 0 {
				continue
			}
			var d amqp.Delivery
			var ok bool
			if err == nil {
				d, ok, err = ch.Get(queue, false)
			}
			if err != nil {
				// A queue deleted since the listing, one this user
				// may not read, or one another connection holds
				// exclusively closes the channel; the next queue
				// gets a new one.
				var aerr *amqp.Error
				if errors.As(err, &aerr) && (aerr.Code == amqp.NotFound || aerr.Code == amqp.AccessRefused || aerr.Code == amqp.ResourceLocked) {
					ch = nil
					continue
				}
				return nil, c.destinationError(err, "queue", queue)
			}
			if !ok {
				continue
			}
			_, dead[queue] = d.Headers["x-death"]
			if err := d.Nack(false, true); err != nil {
				return nil, c.destinationError(err, "queue", queue)
			}
		}
		return dead, nil
	}, nil,
		fmt.Sprintf("rabbitmq at %s: reading the first messages of queues: interrupted (each is put back by the broker)", c.addr),
		fmt.Sprintf("rabbitmq at %s: reading the first messages of queues: timed out", c.addr))
}

// noAPIForDLQ says that finding dead-letter queues needs the management
// API, when it cannot be reached.
func noAPIForDLQ(err error) error {
	if !mqerr.Is(err, mqerr.Unreachable) {
		return err
	}
	return mqerr.Wrap(mqerr.Unreachable, fmt.Errorf("%w: finding rabbitmq dead-letter queues needs the management API (AMQP cannot enumerate queues and bindings): %w; enable the rabbitmq_management plugin or set --management-url (management_url in the context)", broker.ErrCannotList, err))
}

// dlqWhy says why name is a dead-letter queue ("" when it is not): the
// queues dead-lettering into it, else the first pattern its name matches.
func dlqWhy(name string, sources, patterns []string) (string, error) {
	if len(sources) > 0 {
		slices.Sort(sources)
		why := "dead-letter exchange of " + strings.Join(sources[:min(len(sources), maxWhySources)], ", ")
		if more := len(sources) - maxWhySources; more > 0 {
			why += fmt.Sprintf(" and %d more", more)
		}
		return why, nil
	}
	return broker.DeadLetterQuery{Patterns: patterns}.NameWhy(name)
}

// headTime reads head_message_timestamp: seconds since the epoch, or null
// (or "" on some versions) when unknown.
func headTime(raw json.RawMessage) time.Time {
	secs, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || secs <= 0 {
		return time.Time{}
	}
	return time.Unix(secs, 0)
}

// dlxSetting is where a queue's dead letters go.
type dlxSetting struct {
	exchange string
	// key is the dead-letter routing key; without one (hasKey false) the
	// broker keeps each message's routing keys.
	key    string
	hasKey bool
	// how says where the exchange was set: "argument" or "policy NAME".
	how string
}

// dlqFinder caches what DeadLetterDestinations reads more than once.
type dlqFinder struct {
	c *Conn
	// policies are read only when a queue's effective policy is not in
	// /api/queues; nil until then.
	policies  []policy
	exchanges map[string]*exchangeRoutes
}

// policy is a policy of the vhost, as /api/policies returns it.
type policy struct {
	Name       string         `json:"name"`
	Pattern    string         `json:"pattern"`
	ApplyTo    string         `json:"apply-to"`
	Definition map[string]any `json:"definition"`
	Priority   int            `json:"priority"`
	re         *regexp.Regexp
}

// setting returns where a's dead letters go, or nil when nowhere. A queue
// argument wins over the policy, setting by setting, as in the broker.
func (f *dlqFinder) setting(ctx context.Context, a apiQueue) (*dlxSetting, error) {
	qu := a.queue()
	def, name, err := f.policyOf(ctx, a, qu.Type)
	if err != nil {
		return nil, err
	}
	args := qu.Arguments
	s := &dlxSetting{}
	if x, ok := args["x-dead-letter-exchange"].(string); ok {
		s.exchange, s.how = x, "argument"
	} else if x, ok := def["dead-letter-exchange"].(string); ok {
		s.exchange, s.how = x, strings.TrimSpace("policy "+name)
	} else {
		return nil, nil
	}
	if k, ok := args["x-dead-letter-routing-key"].(string); ok {
		s.key, s.hasKey = k, true
	} else if k, ok := def["dead-letter-routing-key"].(string); ok {
		s.key, s.hasKey = k, true
	}
	return s, nil
}

// policyOf returns the definition and name of the policy that applies to
// a: the effective_policy_definition the API gives (3.10 does, except
// for a quorum queue without statistics yet), else the policy a names,
// else the one the broker would pick: the highest priority among those
// whose pattern matches and whose apply-to covers the queue's type.
func (f *dlqFinder) policyOf(ctx context.Context, a apiQueue, qtype string) (map[string]any, string, error) {
	if len(a.EffectivePolicy) > 0 && string(a.EffectivePolicy) != "null" {
		var def map[string]any
		// [] is how the API writes an empty definition.
		_ = json.Unmarshal(a.EffectivePolicy, &def)
		return def, a.Policy, nil
	}
	if f.policies == nil {
		if err := f.readPolicies(ctx); err != nil {
			return nil, "", err
		}
	}
	var best *policy
	for i := range f.policies {
		p := &f.policies[i]
		if a.Policy != "" {
			if p.Name == a.Policy {
				return p.Definition, p.Name, nil
			}
			continue
		}
		if !appliesTo(p.ApplyTo, qtype) || p.re == nil || !p.re.MatchString(a.Name) {
			continue
		}
		if best == nil || p.Priority > best.Priority || (p.Priority == best.Priority && p.Name < best.Name) {
			best = p
		}
	}
	if best == nil {
		return nil, "", nil
	}
	return best.Definition, best.Name, nil
}

// appliesTo reports whether a policy's apply-to covers a queue of type
// qtype (3.12 added classic_queues and quorum_queues).
func appliesTo(applyTo, qtype string) bool {
	switch applyTo {
	case "all", "queues":
		return true
	case "classic_queues":
		return qtype == "classic"
	case "quorum_queues":
		return qtype == "quorum"
	case "streams":
		return qtype == "stream"
	}
	return false
}

// readPolicies reads the vhost's policies. Reading them takes the
// policymaker tag: a user without it gets none, and queues without an
// effective policy in /api/queues are then judged by their arguments.
func (f *dlqFinder) readPolicies(ctx context.Context) error {
	var ps []policy
	err := f.c.mgmt.get(ctx, "/api/policies/"+url.PathEscape(f.c.vhost), nil, fmt.Sprintf("vhost %q", f.c.vhost), &ps)
	if mqerr.Is(err, mqerr.Auth) {
		ps = nil
	} else if err != nil {
		return noAPIForDLQ(err)
	}
	for i := range ps {
		// Erlang's regular expressions are PCRE; a pattern RE2 cannot
		// compile matches nothing here.
		ps[i].re, _ = regexp.Compile(ps[i].Pattern)
	}
	if ps == nil {
		// Read, even if none: not again.
		ps = []policy{}
	}
	f.policies = ps
	return nil
}

// exchangeRoutes is an exchange's type and bindings.
type exchangeRoutes struct {
	kind     string
	bindings []apiBinding
}

type apiBinding struct {
	Destination     string `json:"destination"`
	DestinationType string `json:"destination_type"`
	RoutingKey      string `json:"routing_key"`
}

// deadLetterQueues returns the queues s sends dead letters to.
func (f *dlqFinder) deadLetterQueues(ctx context.Context, s *dlxSetting) ([]string, error) {
	if s.exchange == "" {
		// The default exchange: the queue the key names. Without a key the
		// message would go back to the queue it died in, which the broker
		// drops as a cycle.
		if s.hasKey {
			return []string{s.key}, nil
		}
		return nil, nil
	}
	var out []string
	if err := f.follow(ctx, s.exchange, s, map[string]bool{}, &out); err != nil {
		return nil, err
	}
	// Two bindings may route to the same queue.
	slices.Sort(out)
	return slices.Compact(out), nil
}

// follow adds to out the queues exchange routes s's dead letters to,
// following exchange-to-exchange bindings once each.
func (f *dlqFinder) follow(ctx context.Context, exchange string, s *dlxSetting, seen map[string]bool, out *[]string) error {
	if seen[exchange] {
		return nil
	}
	seen[exchange] = true
	x, err := f.exchange(ctx, exchange)
	if err != nil || x == nil {
		return err
	}
	for _, b := range x.bindings {
		if !routes(x.kind, b.RoutingKey, s) {
			continue
		}
		switch b.DestinationType {
		case "queue":
			*out = append(*out, b.Destination)
		case "exchange":
			if err := f.follow(ctx, b.Destination, s, seen, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// routes reports whether a binding with key on an exchange of kind takes
// s's dead letters: direct and topic exchanges by the dead-letter key;
// fanout, headers and plugin exchanges, and any exchange when there is no
// dead-letter key (the messages keep routing keys we cannot know), take
// them all.
func routes(kind, bindingKey string, s *dlxSetting) bool {
	if !s.hasKey {
		return true
	}
	switch kind {
	case amqp.ExchangeDirect:
		return bindingKey == s.key
	case amqp.ExchangeTopic:
		return topicMatch(strings.Split(bindingKey, "."), strings.Split(s.key, "."))
	}
	return true
}

// topicMatch matches the words of a routing key against those of a topic
// binding: * is one word, # is zero or more.
func topicMatch(pattern, words []string) bool {
	if len(pattern) == 0 {
		return len(words) == 0
	}
	switch pattern[0] {
	case "#":
		for i := 0; i <= len(words); i++ {
			if topicMatch(pattern[1:], words[i:]) {
				return true
			}
		}
		return false
	case "*":
		return len(words) > 0 && topicMatch(pattern[1:], words[1:])
	}
	return len(words) > 0 && words[0] == pattern[0] && topicMatch(pattern[1:], words[1:])
}

// exchange reads the type and bindings of an exchange once; nil when it
// does not exist (dead letters sent to it are dropped).
func (f *dlqFinder) exchange(ctx context.Context, name string) (*exchangeRoutes, error) {
	if x, ok := f.exchanges[name]; ok {
		return x, nil
	}
	base := "/api/exchanges/" + url.PathEscape(f.c.vhost) + "/" + url.PathEscape(name)
	what := fmt.Sprintf("exchange %q", name)
	var info struct {
		Type string `json:"type"`
	}
	x := &exchangeRoutes{}
	err := f.c.mgmt.get(ctx, base, nil, what, &info)
	if err == nil {
		x.kind = info.Type
		err = f.c.mgmt.get(ctx, base+"/bindings/source", nil, what, &x.bindings)
	}
	if mqerr.Is(err, mqerr.NotFound) {
		x, err = nil, nil
	}
	if err != nil {
		return nil, noAPIForDLQ(err)
	}
	f.exchanges[name] = x
	return x, nil
}

// Purge implements broker.Purger with queue.purge, which removes the
// queue's ready messages; those delivered and not yet acked stay (a
// consumer's nack would put them back). RabbitMQ cannot purge up to a
// position, so r.Before is a usage error. amqp091's calls take no
// context: they run aside, and when ctx ends first the purge may still
// happen.
func (c *Conn) Purge(ctx context.Context, r broker.PurgeRequest) (int64, error) {
	if r.Before != nil {
		return 0, mqerr.Usagef("rabbitmq cannot purge queue %q up to a position: queue.purge removes every ready message", r.Dest)
	}
	if r.Dest == "" {
		return 0, mqerr.Usagef("rabbitmq: a queue name to purge is required")
	}
	if err := checkShort("queue name", r.Dest); err != nil {
		return 0, err
	}
	n, err := aside(ctx, func() (int, error) { return c.purge(r.Dest) }, nil,
		fmt.Sprintf("rabbitmq at %s: purging queue %q: interrupted (the purge may still happen)", c.addr, r.Dest),
		fmt.Sprintf("rabbitmq at %s: purging queue %q: timed out (the purge may still happen)", c.addr, r.Dest))
	return int64(n), err
}

// purge declares queue passively, so a missing one is NotFound rather
// than created, then purges it, on a channel of its own.
func (c *Conn) purge(queue string) (int, error) {
	ch, err := c.conn.Channel()
	if err != nil {
		return 0, c.destinationError(err, "queue", queue)
	}
	defer ch.Close()
	if _, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil); err != nil {
		return 0, c.destinationError(err, "queue", queue)
	}
	n, err := ch.QueuePurge(queue, false)
	if err != nil {
		return 0, c.destinationError(err, "queue", queue)
	}
	return n, nil
}
