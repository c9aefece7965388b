package broker

import (
	"math/rand/v2"
	"time"
)

// Reconnect waits grow from backoffMin to backoffMax, with jitter.
const (
	backoffMin = 100 * time.Millisecond
	backoffMax = 5 * time.Second
)

// Backoff is the wait before reconnect or retry attempt n (from 0) of a
// driver: doubling from 100 ms up to 5 s, each a random time between half
// and all of it, so that many consumers do not come back in step.
func Backoff(n int) time.Duration {
	d := backoffMax
	if n < 6 {
		d = min(backoffMin<<max(n, 0), backoffMax)
	}
	return d/2 + rand.N(d/2)
}
