package query

import "sync"

// Broadcaster is a Subscriber that the ingest path signals with Notify
// after each commit that appended events. The zero value is ready.
type Broadcaster struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{} // guarded by mu
}

var _ Subscriber = (*Broadcaster)(nil)

// Subscribe returns a channel signalled after each Notify, and a function
// that unsubscribes.
func (b *Broadcaster) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	if b.subs == nil {
		b.subs = make(map[chan struct{}]struct{})
	}
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, ch)
			b.mu.Unlock()
		})
	}
}

// Notify signals every subscriber without blocking: a subscriber that has
// not consumed the previous signal gets no second one.
func (b *Broadcaster) Notify() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// subscribers returns how many subscriptions are live.
func (b *Broadcaster) subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}
