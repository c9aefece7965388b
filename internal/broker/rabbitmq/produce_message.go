package rabbitmq

import (
	"strconv"
	"unicode/utf8"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// CheckMessage implements broker.MessageChecker: m is refused as Publish
// would refuse it.
func (p *producer) CheckMessage(m *broker.Message) error {
	_, err := p.publishing(m)
	return err
}

// exchangeOf is where m goes: its own exchange with PerMessageDestination.
func (p *producer) exchangeOf(m *broker.Message) string {
	if p.perMessage {
		return m.AMQP.Exchange
	}
	return p.exchange
}

// checkExchange returns an mqerr.NotFound error when exchange does not
// exist: publishing to it would make the broker close the channel and so
// fail every message in flight, not only this one. The default exchange
// always exists. Each exchange is checked once; a failure that says
// nothing about the exchange (a closed connection) is not remembered.
func (p *producer) checkExchange(name string) error {
	if name == "" {
		return nil
	}
	p.exchangesMu.Lock()
	err, known := p.exchanges[name]
	p.exchangesMu.Unlock()
	if known {
		return err
	}
	if err := checkShort("exchange", name); err != nil {
		return err
	}
	ch, err := p.c.conn.Channel()
	if err == nil {
		err = ch.ExchangeDeclarePassive(name, amqp.ExchangeDirect, false, false, false, false, nil)
		ch.Close()
	}
	if err != nil {
		err = p.c.destinationError(err, "exchange", name)
		if !mqerr.Is(err, mqerr.NotFound) {
			return err
		}
	}
	p.exchangesMu.Lock()
	p.exchanges[name] = err
	p.exchangesMu.Unlock()
	return err
}

// routingKey: through the default exchange to a queue, the key is the
// queue's name, whatever the message says (produce --queue Q puts every
// message in Q).
func (p *producer) routingKey(m *broker.Message) string {
	if p.queue != "" {
		return p.queue
	}
	return m.AMQP.RoutingKey
}

// publishing builds the AMQP message, or says why m cannot be sent. Fields
// the broker would reject by closing the channel (which fails everything in
// flight) are checked here, so only the bad message fails.
func (p *producer) publishing(m *broker.Message) (amqp.Publishing, error) {
	a := &m.AMQP
	for _, f := range [...]struct{ name, v string }{
		{"routing key", p.routingKey(m)}, {"content type", a.ContentType}, {"message id", a.MessageID},
		{"correlation id", a.CorrelationID}, {"reply-to", a.ReplyTo}, {"type", a.Type}, {"app id", a.AppID},
		{"content encoding", a.ContentEncoding}, {"user id", a.UserID},
	} {
		if err := checkShort(f.name, f.v); err != nil {
			return amqp.Publishing{}, err
		}
	}
	if a.Expiration != "" {
		if _, err := strconv.ParseUint(a.Expiration, 10, 32); err != nil {
			return amqp.Publishing{}, mqerr.Usagef("expiration %q is not a whole number of milliseconds (0 to 4294967295)", a.Expiration)
		}
	}
	pub := amqp.Publishing{
		Body:            m.Value,
		ContentType:     a.ContentType,
		MessageId:       a.MessageID,
		CorrelationId:   a.CorrelationID,
		ReplyTo:         a.ReplyTo,
		Expiration:      a.Expiration,
		Priority:        a.Priority,
		Type:            a.Type,
		AppId:           a.AppID,
		ContentEncoding: a.ContentEncoding,
	}
	// RabbitMQ closes the channel on a user_id that is not the
	// connection's user (failing everything in flight), so another
	// user's id is left out: README says so.
	if a.UserID != "" && a.UserID == p.c.user {
		pub.UserId = a.UserID
	}
	if a.Persistent || p.persistent && !a.Transient {
		pub.DeliveryMode = amqp.Persistent
	}
	if !m.Timestamp.IsZero() {
		pub.Timestamp = m.Timestamp
	}
	// AMQP has no message key: a Kafka record's goes in a header.
	headers, err := broker.HeadersWithKey(m, nil)
	if err != nil {
		return amqp.Publishing{}, err
	}
	if len(headers) > 0 {
		pub.Headers = make(amqp.Table, len(headers))
		for _, h := range headers {
			if _, dup := pub.Headers[h.Key]; dup {
				return amqp.Publishing{}, mqerr.Usagef("repeated header name %q cannot be sent to RabbitMQ (AMQP headers are a table: one value per name)", h.Key)
			}
			if err := checkShort("header name", h.Key); err != nil {
				return amqp.Publishing{}, err
			}
			pub.Headers[h.Key] = headerValue(h)
		}
	}
	return pub, nil
}

// headerValue sends a typed value with its type, text as an AMQP string
// and anything else as a byte array, which consumers get back unchanged.
func headerValue(h broker.Header) any {
	if h.Field != nil {
		return toAMQP(h.Field)
	}
	v := h.Value
	if v == nil {
		return nil // void, which a null header value in a dump stands for
	}
	if utf8.Valid(v) {
		return string(v)
	}
	return v
}
