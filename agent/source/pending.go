package source

import (
	"strings"
	"sync"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// pendingView holds what has been reported but not yet committed by the
// Recorder: the newest upsert or delete of each such key. A source decides
// what to report from Lookup (is this path known? was it a directory?);
// answering from the Recorder alone would give it the state of a few
// milliseconds ago, and a file created and removed inside that window
// would never be deleted. With this view a Lookup answers as the state
// will be once everything reported before it is committed.
type pendingView struct {
	mu   sync.Mutex
	last uint64                // the newest note handed out
	keys map[fact.Key]pendNote // guarded by mu
}

type pendNote struct {
	fact *plumbv1.Fact // nil: deleted
	n    uint64
}

func newPendingView() *pendingView {
	return &pendingView{keys: map[fact.Key]pendNote{}}
}

// note records that k is about to be upserted as f (nil: deleted) and
// returns the note to pass to committed once the Recorder has it.
func (v *pendingView) note(k fact.Key, f *plumbv1.Fact) uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.last++
	v.keys[k] = pendNote{fact: f, n: v.last}
	return v.last
}

// lookup returns the pending value of k (nil if a delete is pending) and
// whether anything is pending for k.
func (v *pendingView) lookup(k fact.Key) (*plumbv1.Fact, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	p, ok := v.keys[k]
	return p.fact, ok
}

// holds reports whether a key of kind starting with prefix is pending.
func (v *pendingView) holds(kind plumbv1.FactKind, prefix string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for k := range v.keys {
		if k.Kind == kind && strings.HasPrefix(k.ID, prefix) {
			return true
		}
	}
	return false
}

// lookupAll sets out[i] to the pending value of keys[i] where one is
// pending, and returns the indices of the keys with none, under one lock.
func (v *pendingView) lookupAll(keys []fact.Key, out []*plumbv1.Fact) (rest []int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for i, k := range keys {
		if p, ok := v.keys[k]; ok {
			out[i] = p.fact
			continue
		}
		rest = append(rest, i)
	}
	return rest
}

// in returns the pending keys of scope sc, with their pending values (nil:
// deleted).
func (v *pendingView) in(sc Scope) map[fact.Key]*plumbv1.Fact {
	byPrefix := Scope{Kind: sc.Kind, Prefix: sc.Prefix}
	v.mu.Lock()
	defer v.mu.Unlock()
	out := map[fact.Key]*plumbv1.Fact{}
	for k, p := range v.keys {
		if !byPrefix.Contains(k, nil) || (p.fact != nil && !sc.Contains(k, p.fact)) {
			continue
		}
		out[k] = p.fact
	}
	return out
}

// pendingRef names the note a recorded op settles.
type pendingRef struct {
	key fact.Key
	n   uint64
}

// committed forgets the notes of ops the Recorder has committed, unless a
// newer report of the same key is still on its way.
func (v *pendingView) committed(refs []pendingRef) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, ref := range refs {
		if p, ok := v.keys[ref.key]; ok && p.n == ref.n {
			delete(v.keys, ref.key)
		}
	}
}

// size is the number of keys pending, for tests.
func (v *pendingView) size() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.keys)
}
