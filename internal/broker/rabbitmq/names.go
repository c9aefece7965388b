package rabbitmq

import (
	"errors"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/mqerr"
)

// destinationError classifies a failure to check the destination or to
// open the channel.
func (c *Conn) destinationError(err error, what, name string) error {
	var aerr *amqp.Error
	switch {
	case errors.As(err, &aerr) && aerr.Code == amqp.NotFound:
		return mqerr.New(mqerr.NotFound, "rabbitmq at %s: %s %q does not exist in vhost %q", c.addr, what, name, c.vhost)
	case errors.As(err, &aerr) && aerr.Code == amqp.AccessRefused:
		return mqerr.New(mqerr.Auth, "rabbitmq at %s: access to %s %q in vhost %q refused: %s", c.addr, what, name, c.vhost, aerr.Reason)
	case errors.Is(err, amqp.ErrClosed):
		return mqerr.New(mqerr.Unreachable, "rabbitmq at %s: the connection is closed", c.addr)
	case errors.As(err, &aerr):
		return mqerr.New(mqerr.Failure, "rabbitmq at %s: %s %q: %s", c.addr, what, name, aerr.Reason)
	}
	return mqerr.New(mqerr.Failure, "rabbitmq at %s: %s %q: %v", c.addr, what, name, err)
}

// checkShort rejects what does not fit an AMQP short string: amqp091 would
// fail the publish halfway through its frames and break the connection.
func checkShort(name, v string) error {
	if len(v) > 255 {
		return mqerr.Usagef("%s is %d bytes long; AMQP allows at most 255", name, len(v))
	}
	return nil
}
