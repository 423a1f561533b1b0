// Package alert owns the delivery of drift events to on-call: the Notifier
// contract and the registry of notifier types, the building of notifiers
// from the collector's configuration, and the Dispatcher that reads the
// store's durable event log and hands every event to every notifier at
// least once, in order, retrying through outages.
//
// The event log in the store is the outbox: the apply path commits a drift
// finding and its event in the same transaction, and each notifier keeps a
// durable cursor (the Seq of the last event it has finished) next to it.
// Nothing is lost when the collector restarts or a receiver is down; an
// event may be delivered twice (a crash between a delivery and its cursor
// commit), which is why every event carries a stable id that receivers use
// as an idempotency key.
package alert

import (
	"context"
	"fmt"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// Notifier delivers drift events to one receiver. The Dispatcher calls
// Notify from one goroutine per notifier, with events in log order; a
// notifier never sees two calls at once.
type Notifier interface {
	// Name is the notifier's configured, unique name. It labels metrics and
	// logs and names its cursor in the store, so it must stay stable across
	// restarts: the cursor of a name missing at start is dropped.
	Name() string
	// Notify delivers events, at most the Dispatcher's batch size of them.
	// A nil error means all were delivered. Otherwise retryable says
	// whether the same events may succeed later (a timeout, a 5xx) or never
	// will (a 4xx, a malformed payload). A notifier that delivers events one
	// at a time reports how far it got with a *PartialError.
	Notify(ctx context.Context, events []*plumbv1.DriftEvent) (retryable bool, err error)
}

// PartialError is returned by Notify when the first Delivered events were
// delivered and events[Delivered] then failed with Err; events after it
// were not attempted. The Dispatcher advances past the delivered ones and,
// for a failure that is not retryable, gives up on events[Delivered] alone
// rather than on the whole batch.
type PartialError struct {
	Delivered int
	Err       error
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("after %d delivered: %v", e.Delivered, e.Err)
}

func (e *PartialError) Unwrap() error { return e.Err }
