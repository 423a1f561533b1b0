// Package store owns the collector's durable state: hosts, their current
// facts, their baselines, drift items, the drift event log and the
// delivery cursors of notifiers. The API is transactional and speaks in
// domain terms, not buckets, so that a second backend on PostgreSQL can
// implement it (one SQL transaction per Update; per-host ordering by
// compare-and-set on Host.AppliedSeq).
//
// The bbolt backend (Open) keeps everything in one file; its bucket tree is
// drawn in bolt.go.
package store

import (
	"context"
	"errors"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// ErrNotFound is returned for a host, fact or item that does not exist.
var ErrNotFound = errors.New("not found")

// Store is the collector's database.
type Store interface {
	// Update runs fn in one read-write transaction and commits it durably
	// (fsync) before returning nil. If fn returns an error nothing is
	// written. Callers batch many deltas into one Update (group commit).
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction with a consistent snapshot.
	View(ctx context.Context, fn func(ReadTx) error) error
	Close() error
}

// Host is the collector's record of one agent's host.
type Host struct {
	ID         string
	Info       *plumbv1.HostInfo
	Labels     map[string]string
	AppliedSeq uint64 // every delta <= AppliedSeq has been applied
	Resyncs    uint64 // bucket resyncs ever applied; numbers their drift ids
	// HealthChanges counts the transitions of the host's health items
	// (drift.Engine.Health); it numbers their ids.
	HealthChanges uint64
	FactCount     uint64
	Digest        fact.SetDigest // of the host's current facts
	HasBaseline   bool
	OpenDrift     uint64
	LastSeen      int64 // unix nano, collector clock
	Coverage      []*plumbv1.CoverageCondition
}

// ReadTx reads a consistent snapshot. Values returned are owned by the
// caller (copied out of the database). Callbacks of the iterating methods
// must not write in the same transaction (a SQL backend streams rows on the
// transaction's connection): collect first, then write.
type ReadTx interface {
	// Host returns ErrNotFound if the host never connected.
	Host(id string) (*Host, error)
	// Hosts calls fn for each host in id order; fn returning an error stops.
	Hosts(fn func(*Host) error) error
	// HostsAfter is Hosts starting after id after ("": from the first),
	// for paging.
	HostsAfter(after string, fn func(*Host) error) error

	// Fact returns the host's current value of k, or ErrNotFound.
	Fact(host string, k fact.Key) (*plumbv1.Fact, error)
	// Facts calls fn for the host's facts of kind (all kinds when kind is
	// FACT_KIND_UNSPECIFIED) in key order.
	Facts(host string, kind plumbv1.FactKind, fn func(*plumbv1.Fact) error) error
	// FactsAfter is Facts starting after key after (from the first fact
	// when after is nil), for paging: a page resumes where the last ended
	// without reading what came before.
	FactsAfter(host string, kind plumbv1.FactKind, after *fact.Key, fn func(*plumbv1.Fact) error) error
	// FactsInBucket calls fn for the host's facts whose key falls in
	// set-digest bucket b (fact.Key.Bucket), for resyncs. Only those facts
	// are decoded.
	FactsInBucket(host string, b uint32, fn func(*plumbv1.Fact) error) error

	// Baseline returns the host's baseline value of k, or ErrNotFound.
	Baseline(host string, k fact.Key) (*plumbv1.Fact, error)
	// Baselines calls fn for each baseline fact of the host in key order.
	Baselines(host string, fn func(*plumbv1.Fact) error) error

	// Drift returns the host's drift item for k (open or closed), or
	// ErrNotFound.
	Drift(host string, k fact.Key) (*plumbv1.DriftItem, error)
	// DriftItems calls fn for drift items of one host (all hosts when host
	// is ""), open ones only unless includeClosed.
	DriftItems(host string, includeClosed bool, fn func(*plumbv1.DriftItem) error) error
	// DriftItemsAfter calls fn for every drift item, open or closed, of one
	// host (all hosts when host is "") and of one kind (all kinds when
	// kind is FACT_KIND_UNSPECIFIED), in (host id, kind, key) order,
	// starting after position after (nil: from the first), for paging.
	DriftItemsAfter(host string, kind plumbv1.FactKind, after *DriftPos, fn func(*plumbv1.DriftItem) error) error
	// OpenDriftCounts counts the host's open drift items by severity, and
	// its open health items apart; a missing host has none. It reads
	// only what it counts, so a fleet's overview is cheap.
	OpenDriftCounts(host string) (*plumbv1.OpenDriftCounts, error)

	// EventsAfter returns up to limit events with Seq > after, in order.
	EventsAfter(after uint64, limit int) ([]*plumbv1.DriftEvent, error)
	// LastEventSeq is the Seq of the newest event, 0 if none.
	LastEventSeq() (uint64, error)
	// Cursor returns the last event Seq the named consumer has finished, 0
	// if none.
	Cursor(name string) (uint64, error)
	// Cursors calls fn for each cursor in name order.
	Cursors(fn func(name string, seq uint64) error) error

	// JoinToken, APIToken and Identity return ErrNotFound when missing.
	JoinToken(id string) (*JoinToken, error)
	JoinTokens(fn func(*JoinToken) error) error
	APIToken(id string) (*APIToken, error)
	APITokens(fn func(*APIToken) error) error
	// APITokensAfter is APITokens (in id order) starting after id after
	// ("": from the first), for paging.
	APITokensAfter(after string, fn func(*APIToken) error) error
	Identity(host string) (*Identity, error)
	Identities(fn func(*Identity) error) error

	// Silence returns ErrNotFound when missing; Silences calls fn for
	// each silence in id order.
	Silence(id string) (*Silence, error)
	Silences(fn func(*Silence) error) error

	// GroupBaseline returns the record of a group's golden baseline, or
	// ErrNotFound; GroupBaselineFact one of its facts, or ErrNotFound;
	// GroupBaselineFacts calls fn for each of its facts in key order.
	GroupBaseline(group string) (*GroupBaseline, error)
	GroupBaselineFact(group string, k fact.Key) (*plumbv1.Fact, error)
	GroupBaselineFacts(group string, fn func(*plumbv1.Fact) error) error
	// GroupException returns a host's exception to its group's baseline
	// for k, or ErrNotFound; GroupExceptions calls fn for each of the
	// group's exceptions in (host, key) order, where hosts sort by the
	// length of their id first, then by its bytes (web-2 before web-10).
	GroupException(group, host string, k fact.Key) (*GroupException, error)
	GroupExceptions(group string, fn func(*GroupException) error) error
	// AuditAfter returns up to limit audit records with Seq > after, in
	// order.
	AuditAfter(after uint64, limit int) ([]*AuditRecord, error)
	// FactChanges calls fn for the host's fact history entries with At >
	// after, in (At, key) order.
	FactChanges(host string, after int64, fn func(*FactChange) error) error
	// Policy returns the applied policy of that version, LatestPolicy the
	// newest; ErrNotFound when missing. PoliciesBefore calls fn for each
	// policy with a version below before (0: all), newest first.
	Policy(version uint64) (*Policy, error)
	LatestPolicy() (*Policy, error)
	PoliciesBefore(before uint64, fn func(*Policy) error) error

	// Lease returns the named lease as last claimed (it may have expired),
	// or ErrNotFound.
	Lease(name string) (*Lease, error)
	// Secret returns a collector-wide secret (the CA, the digest key:
	// what every collector sharing the database must agree on), or
	// ErrNotFound.
	Secret(name string) ([]byte, error)
}

// DriftPos is the position of a drift item in DriftItemsAfter's order.
type DriftPos struct {
	Host string
	Key  fact.Key
}

// Tx is a read-write transaction.
type Tx interface {
	ReadTx

	PutHost(h *Host) error

	PutFact(host string, f *plumbv1.Fact) error
	DeleteFact(host string, k fact.Key) error

	PutBaseline(host string, f *plumbv1.Fact) error
	DeleteBaseline(host string, k fact.Key) error

	// PutDrift stores an item keyed by (host, kind, key).
	PutDrift(item *plumbv1.DriftItem) error
	DeleteDrift(host string, k fact.Key) error

	// AppendEvent assigns ev.Seq (strictly increasing, collector-wide) and
	// stores it in the event log, which notifiers read as their outbox.
	AppendEvent(ev *plumbv1.DriftEvent) error

	SetCursor(name string, seq uint64) error
	// DeleteCursor forgets a consumer, so that it no longer holds back
	// pruning. Deleting a missing cursor is not an error.
	DeleteCursor(name string) error

	PutJoinToken(t *JoinToken) error
	DeleteJoinToken(id string) error
	PutAPIToken(t *APIToken) error
	DeleteAPIToken(id string) error
	PutIdentity(i *Identity) error

	PutSilence(s *Silence) error
	// DeleteSilence forgets a silence; deleting a missing one is not an
	// error.
	DeleteSilence(id string) error

	PutGroupBaseline(g *GroupBaseline) error
	PutGroupBaselineFact(group string, f *plumbv1.Fact) error
	DeleteGroupBaselineFact(group string, k fact.Key) error
	PutGroupException(e *GroupException) error
	DeleteGroupException(group, host string, k fact.Key) error
	// AppendAudit assigns r.Seq and stores r in the audit log (see Audit).
	AppendAudit(r *AuditRecord) error
	// PutFactChange records that the host's fact k changed at at (unix
	// nano, collector clock) and had the value old until then (nil: it
	// did not exist).
	PutFactChange(host string, at int64, k fact.Key, old *plumbv1.Fact) error
	// PutPolicy stores an applied policy under its version.
	PutPolicy(p *Policy) error

	// ClaimLease makes holder the lease's holder until until (unix nano)
	// if the lease is free, expired at now, or already holder's (a
	// renewal), and reports whether holder holds it. Two collectors
	// claiming at once: exactly one wins.
	ClaimLease(name, holder string, now, until int64) (bool, error)
	// ReleaseLease frees the lease if holder holds it; otherwise, or if it
	// does not exist, it does nothing.
	ReleaseLease(name, holder string) error
	// PutSecret stores a collector-wide secret under name.
	PutSecret(name string, value []byte) error
}
