package storetest

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
)

// logStore is a store with an event log only, whose Updates run truly at
// once (bbolt runs one at a time, so the suite's run on bbolt never sees
// two transactions interleave). It numbers events the way a SQL backend
// might, to show that testGapFreeTail tells the two apart:
//
//   - lockOnAppend: the first AppendEvent of a transaction takes a lock that
//     its commit releases, so event numbers follow commit order (a counter
//     row locked FOR UPDATE, or an advisory transaction lock);
//   - otherwise a bare sequence: numbers at append, commits in any order.
type logStore struct {
	lockOnAppend bool
	appendMu     sync.Mutex // held from a transaction's first append to its end

	mu        sync.Mutex // guards the fields below
	next      uint64
	committed []*plumbv1.DriftEvent
}

func (s *logStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	tx := &logTx{s: s}
	err := fn(tx)
	if tx.locked {
		defer s.appendMu.Unlock()
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.committed = append(s.committed, tx.pending...)
	return nil
}

func (s *logStore) View(ctx context.Context, fn func(store.ReadTx) error) error {
	s.mu.Lock()
	snap := slices.Clone(s.committed)
	s.mu.Unlock()
	slices.SortFunc(snap, func(a, b *plumbv1.DriftEvent) int { return cmpUint(a.GetSeq(), b.GetSeq()) })
	return fn(&logTx{s: s, snap: snap})
}

func (s *logStore) Close() error { return nil }

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// logTx implements the event log's methods; any other panics (nil Tx).
type logTx struct {
	store.Tx
	s       *logStore
	locked  bool
	pending []*plumbv1.DriftEvent
	snap    []*plumbv1.DriftEvent
}

func (t *logTx) AppendEvent(ev *plumbv1.DriftEvent) error {
	if t.s.lockOnAppend && !t.locked {
		t.s.appendMu.Lock()
		t.locked = true
	}
	t.s.mu.Lock()
	t.s.next++
	ev.Seq = t.s.next
	t.s.mu.Unlock()
	t.pending = append(t.pending, proto.Clone(ev).(*plumbv1.DriftEvent))
	return nil
}

func (t *logTx) EventsAfter(after uint64, limit int) ([]*plumbv1.DriftEvent, error) {
	var out []*plumbv1.DriftEvent
	for _, ev := range t.snap {
		if ev.GetSeq() > after && len(out) < limit {
			out = append(out, ev)
		}
	}
	return out, nil
}

// LastEventSeq is the newest committed event's, as SELECT max(seq) gives.
func (t *logTx) LastEventSeq() (uint64, error) {
	if len(t.snap) == 0 {
		return 0, nil
	}
	return t.snap[len(t.snap)-1].GetSeq(), nil
}

func logBackend(lockOnAppend bool) Backend {
	return Backend{Open: func(*testing.T) store.Store { return &logStore{lockOnAppend: lockOnAppend} }}
}

// TestGapFreeTailPassesCommitOrderedNumbers: numbers that follow commit
// order pass, with transactions truly overlapping.
func TestGapFreeTailPassesCommitOrderedNumbers(t *testing.T) {
	testGapFreeTail(t, logBackend(true))
}

// TestGapFreeTailCatchesLateCommits: a bare sequence fails the test. The
// failing run happens in a child process, since a test cannot expect its
// own failure.
func TestGapFreeTailCatchesLateCommits(t *testing.T) {
	if os.Getenv("STORETEST_BARE_SEQUENCE") == "1" {
		testGapFreeTail(t, logBackend(false))
		return
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestGapFreeTailCatchesLateCommits$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "STORETEST_BARE_SEQUENCE=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the gap-free test passed a log numbered by a bare sequence:\n%s", out)
	}
	if !strings.Contains(string(out), "the tailing reader did not see the final log exactly once") {
		t.Fatalf("the gap-free test failed a bare sequence, but not for skipping events:\n%s", out)
	}
	t.Logf("failed as it should; first lines:\n%s", head(string(out), 12))
}

func head(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}
