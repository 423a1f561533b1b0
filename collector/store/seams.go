package store

import (
	"context"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// Pruner is a Store that bounds its history: Prune deletes drift events
// older than the store's retention that every cursor has passed, and audit
// records and fact history entries older than the retention, and returns
// how many it deleted. The collector calls it hourly, whatever the
// backend.
type Pruner interface {
	Prune(ctx context.Context, now time.Time) (int, error)
}

// Pinger is a Store that can tell whether its database answers, for
// /readyz.
type Pinger interface {
	Ping(ctx context.Context) error
}

// ImportTx is a Tx of a backend that can take history with its numbers
// already assigned, for `plumb-collector migrate`: the event log and the
// audit log keep their seqs, so that notifiers' cursors stay valid.
// AppendEvent and AppendAudit still number as they always do.
type ImportTx interface {
	Tx
	// ImportEvent stores ev under ev.Seq (not 0, not yet taken).
	ImportEvent(ev *plumbv1.DriftEvent) error
	// ImportAudit stores r under r.Seq (not 0, not yet taken).
	ImportAudit(r *AuditRecord) error
	// SetSequences makes the last seq ever assigned to an event and to an
	// audit record at least event and audit, so that what is appended
	// next follows what was imported even when the newest imported
	// entries had been pruned at the source.
	SetSequences(event, audit uint64) error
}

// GroupLister is a ReadTx that can list the groups that have a golden
// baseline record or facts, in name order (for migrate, which must copy
// groups no host names any more).
type GroupLister interface {
	GroupNames(fn func(group string) error) error
}

// Prefetcher is a Tx that can read many of a host's rows in one go before
// they are asked for one at a time (a SQL backend pays a round trip per
// read; bbolt does not implement it). Prefetch loads the host's current
// facts, baselines and drift items of keys; later reads in the same
// transaction of those keys are answered from memory. It changes no
// result, only its cost.
type Prefetcher interface {
	Prefetch(host string, keys []fact.Key) error
}

// BaselineAdopter is a Tx that replaces a host's baseline with a copy of
// its current facts by itself, without decoding and encoding every fact
// (the drift engine adopts a new host's first complete snapshot, and
// a resynced host's, this way: 100,000 facts at a time). AdoptBaseline
// returns how many facts it copied. Its result equals deleting every
// baseline of host and putting each current fact as its baseline, which
// is what the drift engine does with a Tx that does not implement it.
type BaselineAdopter interface {
	AdoptBaseline(host string) (int, error)
}
