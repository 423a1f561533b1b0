package source

import (
	"context"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// memRecorder is an in-memory Recorder.
type memRecorder struct {
	mu          sync.Mutex
	facts       map[fact.Key]*plumbv1.Fact
	checkpoints int
	changes     []*plumbv1.PackageChange // with upserts, in order
}

func (m *memRecorder) Apply(batch []Op) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, op := range batch {
		switch {
		case op.Upsert != nil:
			m.facts[fact.KeyOf(op.Upsert)] = op.Upsert
			if op.Change != nil {
				m.changes = append(m.changes, op.Change)
			}
		case op.Delete != nil:
			delete(m.facts, *op.Delete)
		case op.Checkpoint:
			m.checkpoints++
		}
	}
	return len(batch), nil
}

func (m *memRecorder) Lookup(k fact.Key) (*plumbv1.Fact, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.facts[k]
	return f, ok
}

func (m *memRecorder) Facts(kind plumbv1.FactKind, prefix string, fn func(*plumbv1.Fact) error) error {
	m.mu.Lock()
	var out []*plumbv1.Fact
	for k, f := range m.facts {
		if k.Kind == kind && strings.HasPrefix(k.ID, prefix) {
			out = append(out, f)
		}
	}
	m.mu.Unlock()
	for _, f := range out {
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

func (m *memRecorder) keys() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k := range m.facts {
		out = append(out, k.String())
	}
	sort.Strings(out)
	return out
}

// scripted is a source that runs a function once, then waits.
type scripted func(Sink)

func (s scripted) Run(ctx context.Context, sink Sink) error {
	s(sink)
	<-ctx.Done()
	return nil
}

func pkgFact(name, manager string) *plumbv1.Fact {
	return fact.Seal(&plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_PACKAGE, Key: []byte(name),
		Attrs: &plumbv1.Fact_Package{Package: &plumbv1.PackageAttrs{Version: "1", Manager: manager}}})
}

func fileFact(path string) *plumbv1.Fact {
	return fact.Seal(&plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte(path),
		Attrs: &plumbv1.Fact_File{File: &plumbv1.FileAttrs{Type: plumbv1.FileType_FILE_TYPE_REGULAR}}})
}

// keyRecorder is a memRecorder that lists keys (KeyLister), as the
// agent's state does.
type keyRecorder struct{ *memRecorder }

func (k keyRecorder) Keys(kind plumbv1.FactKind, prefix string, fn func(fact.Key) error) error {
	k.mu.Lock()
	var out []fact.Key
	for key := range k.facts {
		if key.Kind == kind && strings.HasPrefix(key.ID, prefix) {
			out = append(out, key)
		}
	}
	k.mu.Unlock()
	for _, key := range out {
		if err := fn(key); err != nil {
			return err
		}
	}
	return nil
}

func TestSnapshotSweepsOnlyItsScope(t *testing.T) {
	t.Run("facts", func(t *testing.T) { testSnapshotSweepsOnlyItsScope(t, false) })
	t.Run("keys", func(t *testing.T) { testSnapshotSweepsOnlyItsScope(t, true) })
}

func testSnapshotSweepsOnlyItsScope(t *testing.T, byKey bool) {
	rec := &memRecorder{facts: map[fact.Key]*plumbv1.Fact{}}
	// Left over from an earlier run: some still exist, some are gone.
	for _, f := range []*plumbv1.Fact{
		fileFact("/etc/kept"), fileFact("/etc/gone"), fileFact("/etcetera/other-root"),
		fileFact("/etc/locked/x"), fileFact("/etc/lockedx"),
		pkgFact("old:amd64", "dpkg"), pkgFact("rpm-pkg.x86_64", "rpm"),
	} {
		rec.facts[fact.KeyOf(f)] = f
	}
	sources := map[string]Source{
		"files": scripted(func(s Sink) {
			sc := Scope{Kind: plumbv1.FactKind_FACT_KIND_FILE, Prefix: "/etc"}
			s.Begin(sc)
			s.Upsert(fileFact("/etc"))
			s.Keep(fact.KeyOf(fileFact("/etc/kept"))) // unchanged: kept, not rewritten
			s.Upsert(fileFact("/etc/new"))
			// Cannot list it: what was known under it stays.
			s.Hold(Scope{Kind: plumbv1.FactKind_FACT_KIND_FILE, Prefix: "/etc/locked"})
			s.End(sc)
			s.Ready()
		}),
		"dpkg": scripted(func(s Sink) {
			sc := Scope{Kind: plumbv1.FactKind_FACT_KIND_PACKAGE, Manager: "dpkg"}
			s.Begin(sc)
			s.Upsert(pkgFact("bash:amd64", "dpkg"))
			s.End(sc)
			s.Ready()
		}),
	}
	var recorder Recorder = rec
	if byKey {
		recorder = keyRecorder{rec}
	}
	runUntilReady(t, recorder, sources)
	want := []string{
		"file:/etc", "file:/etc/kept", "file:/etc/locked/x", "file:/etc/new",
		"file:/etcetera/other-root", // not under /etc/: another scope
		"package:bash:amd64",
		"package:rpm-pkg.x86_64", // rpm's, not dpkg's to delete
	}
	if got := rec.keys(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("facts after snapshots:\n got %v\nwant %v", got, want)
	}
	if rec.checkpoints != 1 {
		t.Fatalf("%d checkpoints, want 1 once every source is ready", rec.checkpoints)
	}
}

func TestNoSourcesIsReadyAtOnce(t *testing.T) {
	rec := &memRecorder{facts: map[fact.Key]*plumbv1.Fact{}}
	r := NewRunner(slog.New(slog.DiscardHandler), rec, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	select {
	case <-r.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("not ready")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.checkpoints != 1 {
		t.Fatalf("%d checkpoints", rec.checkpoints)
	}
}

func TestScopeContains(t *testing.T) {
	sc := Scope{Kind: plumbv1.FactKind_FACT_KIND_FILE, Prefix: "/etc"}
	for path, want := range map[string]bool{"/etc": true, "/etc/x": true, "/etcx": false, "/": false} {
		if got := sc.Contains(fact.Key{Kind: sc.Kind, ID: path}, fileFact(path)); got != want {
			t.Errorf("Contains(%q) = %v", path, got)
		}
	}
}

// gatedRecorder commits a batch only when the test lets it, as a busy
// disk would: what a source reports stays uncommitted meanwhile.
type gatedRecorder struct {
	*memRecorder
	gate chan struct{}
}

func (g *gatedRecorder) Apply(batch []Op) (int, error) {
	<-g.gate
	return g.memRecorder.Apply(batch)
}

// A source decides what to report from Lookup. Before the fix, Lookup read
// only the committed state: a file upserted and removed before the commit
// was never deleted (Lookup said it was unknown), a phantom for good.
func TestLookupSeesWhatIsNotYetCommitted(t *testing.T) {
	rec := &gatedRecorder{memRecorder: &memRecorder{facts: map[fact.Key]*plumbv1.Fact{}}, gate: make(chan struct{})}
	old := fileFact("/etc/old")
	rec.facts[fact.KeyOf(old)] = old
	sc := Scope{Kind: plumbv1.FactKind_FACT_KIND_FILE, Prefix: "/etc"}
	type seen struct {
		what  string
		found bool
	}
	got := make(chan seen, 8)
	look := func(s Sink, what, path string) {
		_, ok := s.Lookup(fact.KeyOf(fileFact(path)))
		got <- seen{what, ok}
	}
	sources := map[string]Source{"files": scripted(func(s Sink) {
		s.Upsert(fileFact("/etc/new.dpkg-new"))
		look(s, "upserted, not committed", "/etc/new.dpkg-new")
		s.Delete(fact.KeyOf(fileFact("/etc/new.dpkg-new")))
		look(s, "deleted, not committed", "/etc/new.dpkg-new")
		s.Begin(sc)
		s.Upsert(fileFact("/etc"))
		s.End(sc) // sweeps /etc/old
		look(s, "swept by a snapshot", "/etc/old")
		s.Ready()
	})}
	r := NewRunner(slog.New(slog.DiscardHandler), rec, sources, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	want := []seen{{"upserted, not committed", true}, {"deleted, not committed", false}}
	for _, w := range want {
		select {
		case g := <-got:
			if g != w {
				t.Errorf("Lookup after %s: found=%v, want %v", g.what, g.found, w.found)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no lookup after %s", w.what)
		}
	}
	// Let every commit through: the snapshot's End waits on one.
	close(rec.gate)
	select {
	case g := <-got:
		if g.found {
			t.Errorf("Lookup after %s: found, want gone", g.what)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("End never returned")
	}
	select {
	case <-r.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("runner never became ready")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rec.keys(), " "); got != "file:/etc" {
		t.Errorf("recorded %q, want only file:/etc", got)
	}
	if n := r.pending.size(); n != 0 {
		t.Errorf("%d keys still pending after every commit", n)
	}
}

// flaky reports a gap and fails on its first run; its second run finds
// the gap closed, and so does not mention it.
type flaky struct{ runs int }

func (f *flaky) Run(ctx context.Context, s Sink) error {
	f.runs++
	if f.runs == 1 {
		s.Coverage(Condition{State: plumbv1.CoverageState_COVERAGE_STATE_BLIND, Reason: "unreadable", Detail: "/etc/x"})
		s.Coverage(Condition{State: plumbv1.CoverageState_COVERAGE_STATE_BLIND, Reason: "unreadable", Detail: "/etc/still"})
		return context.DeadlineExceeded // any error: the runner restarts it
	}
	s.Coverage(Condition{State: plumbv1.CoverageState_COVERAGE_STATE_BLIND, Reason: "unreadable", Detail: "/etc/still"})
	s.Ready()
	<-ctx.Done()
	return nil
}

// A source that restarts forgets the gaps its earlier run opened. Before
// the fix they stayed open for good; now the ones the new run does not
// find again close once its first snapshot is complete.
func TestGapsOfARestartedSourceClose(t *testing.T) {
	rec := &memRecorder{facts: map[fact.Key]*plumbv1.Fact{}}
	r := NewRunner(slog.New(slog.DiscardHandler), rec, map[string]Source{"files": &flaky{}}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	select {
	case <-r.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("restarted source never became ready")
	}
	conds, _ := r.Coverage().Snapshot()
	var got []string
	for _, c := range conds {
		got = append(got, c.GetDetail())
	}
	if strings.Join(got, " ") != "/etc/still" {
		t.Errorf("open gaps after the restart: %q, want only /etc/still", got)
	}
}

// A package change sent with an upsert reaches the recorder with it.
func TestUpsertChangeReachesTheRecorder(t *testing.T) {
	rec := &memRecorder{facts: map[fact.Key]*plumbv1.Fact{}}
	c := &plumbv1.PackageChange{Package: "bash:amd64", OldVersion: "1", NewVersion: "2", Manager: "dpkg"}
	sources := map[string]Source{
		"dpkg": scripted(func(s Sink) {
			s.Ready()
			s.(ChangeSink).UpsertChange(pkgFact("bash:amd64", "dpkg"), c)
			s.Upsert(pkgFact("zsh:amd64", "dpkg"))
		}),
	}
	r := NewRunner(slog.New(slog.DiscardHandler), rec, sources, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(rec.keys()) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.changes) != 1 || rec.changes[0] != c {
		t.Errorf("recorder got changes %v, want the one sent", rec.changes)
	}
}

// sweepCounter is a keyRecorder that tells whether it stores anything
// under a prefix (EmptyChecker) and counts the sweeps that list its keys.
type sweepCounter struct {
	keyRecorder
	sweeps atomic.Int32
}

func (s *sweepCounter) Keys(kind plumbv1.FactKind, prefix string, fn func(fact.Key) error) error {
	s.sweeps.Add(1)
	return s.keyRecorder.Keys(kind, prefix, fn)
}

func (s *sweepCounter) StoresUnder(kind plumbv1.FactKind, prefix string) (bool, error) {
	found := false
	_ = s.keyRecorder.Keys(kind, prefix, func(fact.Key) error { found = true; return nil })
	return found, nil
}

// TestFreshSnapshotSkipsItsSweep: a snapshot of a scope with nothing
// stored skips the sweep (the agent's first scan), and one of a scope with
// facts stored, or just reported, sweeps and deletes what it did not see.
func TestFreshSnapshotSkipsItsSweep(t *testing.T) {
	sc := Scope{Kind: plumbv1.FactKind_FACT_KIND_FILE, Prefix: "/etc"}
	run := func(rec *sweepCounter, script func(Sink)) {
		t.Helper()
		runUntilReady(t, rec, map[string]Source{"files": scripted(script)})
	}
	rec := &sweepCounter{keyRecorder: keyRecorder{&memRecorder{facts: map[fact.Key]*plumbv1.Fact{}}}}
	run(rec, func(s Sink) {
		s.Begin(sc)
		s.Upsert(fileFact("/etc"))
		s.Upsert(fileFact("/etc/a"))
		s.End(sc)
		s.Ready()
	})
	if n := rec.sweeps.Load(); n != 0 {
		t.Errorf("first snapshot of an empty scope swept %d times, want 0", n)
	}
	if got := rec.memRecorder.keys(); !slices.Equal(got, []string{"file:/etc", "file:/etc/a"}) {
		t.Errorf("after the first snapshot: %v", got)
	}
	// Facts stored, and one reported just before Begin: both unseen, both
	// deleted.
	run(rec, func(s Sink) {
		s.Upsert(fileFact("/etc/b"))
		s.Begin(sc)
		s.Keep(fact.KeyOf(fileFact("/etc")))
		s.End(sc)
		s.Ready()
	})
	if n := rec.sweeps.Load(); n != 1 {
		t.Errorf("snapshot of a scope with facts swept %d times, want 1", n)
	}
	if got := rec.memRecorder.keys(); !slices.Equal(got, []string{"file:/etc"}) {
		t.Errorf("after the second snapshot: %v, want only file:/etc", got)
	}
	// Nothing stored in scope, but one fact reported just before Begin
	// (perhaps not yet recorded): the snapshot did not see it, so it goes.
	rec = &sweepCounter{keyRecorder: keyRecorder{&memRecorder{facts: map[fact.Key]*plumbv1.Fact{}}}}
	run(rec, func(s Sink) {
		s.Upsert(fileFact("/etc/early"))
		s.Begin(sc)
		s.Upsert(fileFact("/etc"))
		s.End(sc)
		s.Ready()
	})
	if got := rec.memRecorder.keys(); !slices.Equal(got, []string{"file:/etc"}) {
		t.Errorf("after a snapshot begun with a report pending: %v, want only file:/etc", got)
	}
}

// runUntilReady runs sources into rec until the runner is ready, then
// stops it.
func runUntilReady(t *testing.T, rec Recorder, sources map[string]Source) {
	t.Helper()
	r := NewRunner(slog.New(slog.DiscardHandler), rec, sources, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	select {
	case <-r.Ready():
	case <-time.After(10 * time.Second):
		cancel()
		<-done
		t.Fatal("runner never became ready")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
