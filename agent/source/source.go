// Package source defines what a fact source is, keeps the registry of them,
// and runs the enabled ones: it owns their lifecycle, logs and metrics so
// that no source measures itself.
//
// A source turns one part of the host (files, the package database, kernel
// state) into facts. It first reports a complete snapshot of everything it
// covers, then reports changes as they happen, until its context ends.
package source

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// Source is the contract every fact source implements.
type Source interface {
	// Run reports facts to sink until ctx ends. It must begin with a complete
	// snapshot (Begin, Upserts, End) of every scope it covers, then call
	// Ready, and may send
	// more snapshots later (after an inotify overflow, say). Between
	// snapshots it reports single changes. It returns nil when ctx ends, or
	// an error when it cannot go on; the runner logs it and restarts it.
	Run(ctx context.Context, sink Sink) error
}

// MetricsSource is an optional interface: a source that counts things of
// its own (files opened, queue overflows) returns them here and the
// runner registers them.
type MetricsSource interface {
	Collectors() []prometheus.Collector
}

// Sink receives a source's facts. Calls may block while the agent's state
// is busy (back-pressure); they never drop a fact. A Sink is safe for use
// by one goroutine per source; sources that report from several goroutines
// must serialize their calls themselves.
type Sink interface {
	// Upsert records the current value of a fact. Its digest must be set
	// (fact.Seal).
	Upsert(f *plumbv1.Fact)
	// Keep says the fact k is unchanged, as recorded (Lookup gave it): it
	// counts as seen by the open snapshot and costs nothing more. An
	// unchanged rescan uses it instead of Upsert.
	Keep(k fact.Key)
	// Hold says the source cannot see scope now (it cannot list a
	// directory, say): every recorded fact in scope counts as seen by the
	// open snapshots, so none is deleted for want of being seen. The
	// source reports the gap with Coverage.
	Hold(scope Scope)
	// Delete records that a fact no longer exists.
	Delete(k fact.Key)
	// Begin starts a snapshot of scope: every fact in scope that is not
	// upserted between Begin and End is deleted at End.
	Begin(scope Scope)
	// End closes the snapshot of scope. It returns once the facts the
	// snapshot removes are decided, so a Lookup after it no longer sees
	// them.
	End(scope Scope)
	// Ready says the source's initial snapshot is complete. The agent sends
	// a checkpoint once every enabled source is ready; the collector adopts
	// a new host's first complete snapshot as its baseline there. Calls
	// after the first are ignored.
	Ready()
	// Coverage reports a gap in what the source sees, or its end (state OK).
	Coverage(c Condition)
	// Lookup returns the value last reported for k, if any: what this
	// source (or a snapshot's End) reported, whether or not the state has
	// committed it yet, so a source may decide from it (is this path known?
	// was it a directory?). Sources also use it to skip work, e.g. the file
	// source's stat fast path skips re-hashing a file whose size, mtime,
	// ctime and inode are unchanged.
	Lookup(k fact.Key) (*plumbv1.Fact, bool)
}

// ScopeChecker is an optional Sink interface: whether anything of a
// scope's key range is recorded or reported. A source may then skip work
// whose only use is comparing with what was recorded: the file source's
// first scan takes a regular file's metadata from the fstat of its open
// descriptor, not from an lstat before (which only the stat fast path
// needs).
type ScopeChecker interface {
	// Holds reports whether anything with sc's kind and a key starting
	// with sc's prefix is recorded or pending; true when it cannot tell.
	Holds(sc Scope) bool
}

// BatchLooker is an optional Sink interface: Lookup of many keys at once,
// for less than a Lookup each (one read of the state, not one per key).
// Unlike the other Sink methods, LookupAll may be called from any
// goroutine, concurrently with them: the file source's walkers look up a
// directory's files as they list it. Like Lookup, it answers with what
// was reported, committed or not.
type BatchLooker interface {
	// LookupAll sets out[i] to the value last reported for keys[i], or
	// nil; out is as long as keys.
	LookupAll(keys []fact.Key, out []*plumbv1.Fact)
}

// FactReader is an optional interface of a Sink: a source that must look
// through what it recorded (the file source, for the other names of a
// hard-linked file) reads the facts of a scope, as committed. fn must not
// call the Sink.
type FactReader interface {
	Facts(scope Scope, fn func(*plumbv1.Fact) error) error
}

// ChangeSink is an optional interface of a Sink: a package source that
// saw a package's version change sends the package's new fact together
// with its check of the new version's files. The check rides on the
// fact's delta as context for alerting; it is never part of the fact, and
// a Sink without this interface gets the plain Upsert.
type ChangeSink interface {
	UpsertChange(f *plumbv1.Fact, c *plumbv1.PackageChange)
}

// Scope is a set of facts a snapshot covers: all facts of Kind whose key
// starts with Prefix and, if Manager is set, whose package manager
// (PackageAttrs.manager or ConffileAttrs.manager) is Manager. An empty
// Prefix covers the whole kind. The file source uses one scope per watched
// root, with Prefix the root path: the root itself and everything under
// root+"/". The dpkg and rpm sources share the package and conffile kinds
// and tell their facts apart by Manager.
type Scope struct {
	Kind    plumbv1.FactKind
	Prefix  string
	Manager string
}

// Contains reports whether f, the stored value of k, is in s.
func (s Scope) Contains(k fact.Key, f *plumbv1.Fact) bool {
	if k.Kind != s.Kind {
		return false
	}
	if s.Manager != "" && managerOf(f) != s.Manager {
		return false
	}
	if s.Prefix == "" || k.ID == s.Prefix {
		return true
	}
	p := s.Prefix
	if p[len(p)-1] != '/' {
		p += "/"
	}
	return len(k.ID) > len(p) && k.ID[:len(p)] == p
}

// Condition is one gap in a source's coverage, or the end of one.
type Condition struct {
	// State is COVERAGE_STATE_OK when the gap named by Reason and Detail
	// has closed.
	State  plumbv1.CoverageState
	Reason string // short, machine-readable: "unreadable", "queue_overflow"
	Detail string // human detail: the path, the limit
}

// Factory builds a source from its options. Options are the source's own
// section of the agent's configuration, decoded by the source (see Decode).
type Factory func(logger *slog.Logger, opts Options) (Source, error)

func managerOf(f *plumbv1.Fact) string {
	if m := f.GetPackage().GetManager(); m != "" {
		return m
	}
	return f.GetConffile().GetManager()
}
