package alert

import (
	"math/rand/v2"
	"time"
)

// backoff yields retry delays that double from initial up to max, each
// jittered to between half and all of the nominal delay so that notifiers
// failing together do not retry together. It never gives up: an event
// stays pending until its receiver is back.
type backoff struct {
	initial, max time.Duration
	next         time.Duration
}

// Next returns the delay before the next attempt.
func (b *backoff) Next() time.Duration {
	if b.next < b.initial {
		b.next = b.initial
	}
	d := b.next
	b.next = min(b.next*2, b.max)
	return d/2 + rand.N(d/2+1)
}

// Reset starts over after a success.
func (b *backoff) Reset() { b.next = 0 }
