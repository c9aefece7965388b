package rabbitmq

import (
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/broker"
)

// multiAcker batches the acks of one session's channel (MultiAck): an ack
// is kept until every delivery up to it was settled and `every` acks are
// kept, then one basic.ack with multiple=true settles them all. Nacks and
// rejects go out at once. A multiple ack covers exactly the deliveries
// settled here, because it names the newest of a run of tags with nothing
// unsettled below it; acks above a delivery still unsettled wait for it,
// or for close. Delivery tags of a channel count up from 1.
type multiAcker struct {
	mu    sync.Mutex
	every int
	// low: every tag up to low is settled here. last is the newest acked
	// tag up to low whose ack was not sent yet, unsent how many such acks
	// there are.
	low, last uint64
	unsent    int
	// ahead are the tags above low+1 settled here: true for an ack not
	// sent yet.
	ahead  map[uint64]bool
	closed bool
}

func newMultiAcker(every int) *multiAcker {
	return &multiAcker{every: every, ahead: map[uint64]bool{}}
}

// settle settles tag on ch with v (Ack, Nack or Term). ok is false when
// the session is being closed: the delivery's settle did not happen.
func (a *multiAcker) settle(ch *amqp.Channel, tag uint64, v broker.Verb) (ok bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false, nil
	}
	switch v {
	case broker.Nack:
		err = ch.Nack(tag, false, true)
	case broker.Term:
		err = ch.Reject(tag, false)
	}
	if err != nil {
		return true, err
	}
	a.ahead[tag] = v == broker.Ack
	for {
		ack, ok := a.ahead[a.low+1]
		if !ok {
			break
		}
		delete(a.ahead, a.low+1)
		a.low++
		if ack {
			a.last, a.unsent = a.low, a.unsent+1
		}
	}
	if a.unsent >= a.every {
		return true, a.flush(ch)
	}
	return true, nil
}

// flush sends the kept acks up to low. a.mu is held.
func (a *multiAcker) flush(ch *amqp.Channel) error {
	if a.unsent == 0 {
		return nil
	}
	a.unsent = 0
	return ch.Ack(a.last, true)
}

// close sends every ack kept (those up to low with one multiple ack, the
// ones above a delivery never settled one by one) and refuses later
// settles. Deliveries never settled go back to the queue with the channel.
func (a *multiAcker) close(ch *amqp.Channel) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	err := a.flush(ch)
	for tag, ack := range a.ahead {
		if ack && err == nil {
			err = ch.Ack(tag, false)
		}
	}
	clear(a.ahead)
	return err
}
