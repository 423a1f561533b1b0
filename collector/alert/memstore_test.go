package alert_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
)

// memData is the "file" behind a memStore: it outlives a store, so closing
// and reopening one simulates a collector restart.
type memData struct {
	mu      sync.Mutex
	events  []*plumbv1.DriftEvent
	cursors map[string]uint64
	leases  map[string]store.Lease

	failUpdates atomic.Bool // every Update fails while set
	updates     atomic.Int64
}

func newMemData() *memData {
	return &memData{cursors: map[string]uint64{}, leases: map[string]store.Lease{}}
}

// memStore is an in-memory store.Store with only the event log and the
// cursors: what package alert uses. Update stages its writes and applies
// them only if fn succeeds, like a real transaction.
type memStore struct {
	d      *memData
	closed atomic.Bool
}

var errClosed = errors.New("memstore: closed")

func (d *memData) open() *memStore { return &memStore{d: d} }

func (s *memStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return errClosed
	}
	if s.d.failUpdates.Load() {
		return errors.New("memstore: injected update failure")
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	tx := &memTx{events: s.d.events[:len(s.d.events):len(s.d.events)], cursors: maps.Clone(s.d.cursors), leases: maps.Clone(s.d.leases)}
	if err := fn(tx); err != nil {
		return err
	}
	s.d.events, s.d.cursors, s.d.leases = tx.events, tx.cursors, tx.leases
	s.d.updates.Add(1)
	return nil
}

func (s *memStore) View(ctx context.Context, fn func(store.ReadTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return errClosed
	}
	s.d.mu.Lock()
	tx := &memTx{events: s.d.events[:len(s.d.events):len(s.d.events)], cursors: maps.Clone(s.d.cursors), leases: maps.Clone(s.d.leases)}
	s.d.mu.Unlock()
	return fn(tx)
}

func (s *memStore) Close() error {
	s.closed.Store(true)
	return nil
}

// memTx implements the event and cursor methods; the embedded nil Tx makes
// any other method panic, which flags a use package alert should not make.
type memTx struct {
	store.Tx
	events  []*plumbv1.DriftEvent
	cursors map[string]uint64
	leases  map[string]store.Lease
}

// The lease methods follow store.Tx's contract (bbolt's leases.go).
func (tx *memTx) Lease(name string) (*store.Lease, error) {
	l, ok := tx.leases[name]
	if !ok {
		return nil, store.ErrNotFound
	}
	return &l, nil
}

func (tx *memTx) ClaimLease(name, holder string, now, until int64) (bool, error) {
	if l, ok := tx.leases[name]; ok && l.Holder != holder && l.Until > now {
		return false, nil
	}
	tx.leases[name] = store.Lease{Name: name, Holder: holder, Until: until}
	return true, nil
}

func (tx *memTx) ReleaseLease(name, holder string) error {
	if l, ok := tx.leases[name]; ok && l.Holder == holder {
		delete(tx.leases, name)
	}
	return nil
}

func (tx *memTx) EventsAfter(after uint64, limit int) ([]*plumbv1.DriftEvent, error) {
	var out []*plumbv1.DriftEvent
	for _, ev := range tx.events {
		if ev.GetSeq() > after && len(out) < limit {
			out = append(out, proto.Clone(ev).(*plumbv1.DriftEvent))
		}
	}
	return out, nil
}

func (tx *memTx) LastEventSeq() (uint64, error) {
	if len(tx.events) == 0 {
		return 0, nil
	}
	return tx.events[len(tx.events)-1].GetSeq(), nil
}

func (tx *memTx) Cursor(name string) (uint64, error) { return tx.cursors[name], nil }

func (tx *memTx) SetCursor(name string, seq uint64) error {
	tx.cursors[name] = seq
	return nil
}

func (tx *memTx) Cursors(fn func(name string, seq uint64) error) error {
	for _, name := range slices.Sorted(maps.Keys(tx.cursors)) {
		if err := fn(name, tx.cursors[name]); err != nil {
			return err
		}
	}
	return nil
}

func (tx *memTx) DeleteCursor(name string) error {
	delete(tx.cursors, name)
	return nil
}

func (tx *memTx) AppendEvent(ev *plumbv1.DriftEvent) error {
	last, _ := tx.LastEventSeq()
	ev.Seq = last + 1
	tx.events = append(tx.events, proto.Clone(ev).(*plumbv1.DriftEvent))
	return nil
}

func (d *memData) cursor(name string) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cursors[name]
}

func TestMemStoreDiscardsFailedUpdate(t *testing.T) {
	st := newMemData().open()
	ctx := context.Background()
	_ = st.Update(ctx, func(tx store.Tx) error {
		_ = tx.AppendEvent(&plumbv1.DriftEvent{Id: "a"})
		_ = tx.SetCursor("c", 1)
		return errors.New("abort")
	})
	_ = st.View(ctx, func(tx store.ReadTx) error {
		if last, _ := tx.LastEventSeq(); last != 0 {
			t.Errorf("LastEventSeq after aborted update = %d, want 0", last)
		}
		if c, _ := tx.Cursor("c"); c != 0 {
			t.Errorf("cursor after aborted update = %d, want 0", c)
		}
		return nil
	})
}
