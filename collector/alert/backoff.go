package alert

import (
	"time"

	"github.com/cenkalti/backoff/v5"
)

// newBackoff returns retry delays that grow from initial to max, jittered
// so that notifiers failing together do not retry together. It never gives
// up: an event stays pending until its receiver is back. Reset it after a
// success.
func newBackoff(initial, max time.Duration) *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval:     initial,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         max,
	}
}
