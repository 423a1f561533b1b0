package sourcetest

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/pkg/fact"
)

var (
	_ source.Sink       = (*Sink)(nil)
	_ source.ChangeSink = (*Sink)(nil)
)

// Sink is a source.Sink that keeps state the way the agent does (End
// deletes what the snapshot did not upsert) and logs every call, as
// "upsert KEY", "delete KEY", "begin KIND/MANAGER", "end KIND/MANAGER" and
// "ready". Upsert panics on a fact that is not sealed.
type Sink struct {
	mu       sync.Mutex
	facts    map[fact.Key]*plumbv1.Fact         // guarded by mu
	seen     map[source.Scope]map[fact.Key]bool // guarded by mu; upserts since Begin, per open scope
	log      []string                           // guarded by mu
	readyAt  time.Time                          // guarded by mu; zero until Ready
	coverage []source.Condition                 // guarded by mu
	changes  []*plumbv1.PackageChange           // guarded by mu; from UpsertChange, in order
}

// NewSink returns an empty Sink.
func NewSink() *Sink {
	return &Sink{facts: map[fact.Key]*plumbv1.Fact{}, seen: map[source.Scope]map[fact.Key]bool{}}
}

// Seed stores facts as if reported by an earlier run, without logging.
func (s *Sink) Seed(fs ...*plumbv1.Fact) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range fs {
		s.facts[fact.KeyOf(f)] = f
	}
}

// Upsert implements source.Sink.
func (s *Sink) Upsert(f *plumbv1.Fact) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !bytes.Equal(f.GetDigest(), fact.Digest(f)) {
		panic(fmt.Sprintf("fact %s not sealed", fact.KeyOf(f)))
	}
	k := fact.KeyOf(f)
	s.facts[k] = f
	for _, m := range s.seen {
		m[k] = true
	}
	s.log = append(s.log, "upsert "+k.String())
}

// UpsertChange implements source.ChangeSink: an Upsert (logged as one)
// whose package change is kept for Changes.
func (s *Sink) UpsertChange(f *plumbv1.Fact, c *plumbv1.PackageChange) {
	s.Upsert(f)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changes = append(s.changes, c)
}

// Changes returns the package changes sent with upserts, oldest first.
func (s *Sink) Changes() []*plumbv1.PackageChange {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*plumbv1.PackageChange(nil), s.changes...)
}

// Keep implements source.Sink.
func (s *Sink) Keep(k fact.Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.seen {
		m[k] = true
	}
	s.log = append(s.log, "keep "+k.String())
}

// Hold implements source.Sink.
func (s *Sink) Hold(sc source.Scope) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, f := range s.facts {
		if sc.Contains(k, f) {
			for _, m := range s.seen {
				m[k] = true
			}
		}
	}
	s.log = append(s.log, "hold "+fact.KindName(sc.Kind)+"/"+sc.Prefix)
}

// Delete implements source.Sink.
func (s *Sink) Delete(k fact.Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.facts, k)
	s.log = append(s.log, "delete "+k.String())
}

// Begin implements source.Sink.
func (s *Sink) Begin(sc source.Scope) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen[sc] = map[fact.Key]bool{}
	s.log = append(s.log, "begin "+fact.KindName(sc.Kind)+"/"+sc.Manager)
}

// End implements source.Sink.
func (s *Sink) End(sc source.Scope) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, f := range s.facts {
		if sc.Contains(k, f) && !s.seen[sc][k] {
			delete(s.facts, k)
		}
	}
	delete(s.seen, sc)
	s.log = append(s.log, "end "+fact.KindName(sc.Kind)+"/"+sc.Manager)
}

// Ready implements source.Sink.
func (s *Sink) Ready() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readyAt.IsZero() {
		s.readyAt = time.Now()
	}
	s.log = append(s.log, "ready")
}

// Coverage implements source.Sink.
func (s *Sink) Coverage(c source.Condition) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.coverage = append(s.coverage, c)
}

// Lookup implements source.Sink.
func (s *Sink) Lookup(k fact.Key) (*plumbv1.Fact, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.facts[k]
	return f, ok
}

// Get returns the fact of kind with key id, or nil.
func (s *Sink) Get(kind plumbv1.FactKind, id string) *plumbv1.Fact {
	f, _ := s.Lookup(fact.Key{Kind: kind, ID: id})
	return f
}

// ByKind returns the facts of kind, by key.
func (s *Sink) ByKind(kind plumbv1.FactKind) map[string]*plumbv1.Fact {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]*plumbv1.Fact{}
	for k, f := range s.facts {
		if k.Kind == kind {
			out[k.ID] = f
		}
	}
	return out
}

// LogLen returns how many calls the log holds, a mark for LogSince.
func (s *Sink) LogLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.log)
}

// LogSince returns the calls logged from mark i on.
func (s *Sink) LogSince(i int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log[i:]...)
}

// IsReady reports whether the source has called Ready.
func (s *Sink) IsReady() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.readyAt.IsZero()
}

// ReadyAt returns when the source first called Ready; zero before.
func (s *Sink) ReadyAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readyAt
}

// Conditions returns the conditions reported so far, oldest first.
func (s *Sink) Conditions() []source.Condition {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]source.Condition(nil), s.coverage...)
}

// LastCondition returns the condition reported last; ok is false when
// there is none.
func (s *Sink) LastCondition() (c source.Condition, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.coverage) == 0 {
		return c, false
	}
	return s.coverage[len(s.coverage)-1], true
}
