package kernel

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// recSink is a source.Sink that keeps state the way the agent does (End
// deletes what the snapshot did not upsert) and logs every call.
type recSink struct {
	mu       sync.Mutex
	facts    map[fact.Key]*plumbv1.Fact
	seen     map[source.Scope]map[fact.Key]bool // upserts since Begin, per open scope
	log      []string
	ready    bool
	readyAt  time.Time
	coverage []source.Condition
}

func newRecSink() *recSink {
	return &recSink{facts: map[fact.Key]*plumbv1.Fact{}, seen: map[source.Scope]map[fact.Key]bool{}}
}

func (s *recSink) Upsert(f *plumbv1.Fact) {
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

func (s *recSink) Delete(k fact.Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.facts, k)
	s.log = append(s.log, "delete "+k.String())
}

func (s *recSink) Begin(sc source.Scope) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen[sc] = map[fact.Key]bool{}
	s.log = append(s.log, "begin "+fact.KindName(sc.Kind)+"/"+sc.Manager)
}

func (s *recSink) End(sc source.Scope) {
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

func (s *recSink) Ready() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ready {
		s.ready, s.readyAt = true, time.Now()
	}
	s.log = append(s.log, "ready")
}

func (s *recSink) Coverage(c source.Condition) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.coverage = append(s.coverage, c)
}

func (s *recSink) Lookup(k fact.Key) (*plumbv1.Fact, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.facts[k]
	return f, ok
}

func (s *recSink) get(kind plumbv1.FactKind, id string) *plumbv1.Fact {
	f, _ := s.Lookup(fact.Key{Kind: kind, ID: id})
	return f
}

func (s *recSink) logLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.log)
}

func (s *recSink) logSince(i int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log[i:]...)
}

func (s *recSink) isReady() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ready
}

// byKind returns the keys of the facts of kind.
func (s *recSink) byKind(kind plumbv1.FactKind) map[string]*plumbv1.Fact {
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

// waitFor polls cond until it holds or timeout passes, and returns how
// long it took.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}
