package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/collector/store/storetest"
)

// TestBoltConformance holds the bbolt backend to the conformance suite. It
// allows one handle per file (the file lock), so OpenSecond is nil.
func TestBoltConformance(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		Open: func(t *testing.T) store.Store {
			s, err := store.Open(filepath.Join(t.TempDir(), "plumb.db"), store.Options{EventRetention: storetest.Retention})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			return s
		},
		Prune: func(ctx context.Context, s store.Store, now time.Time) (int, error) {
			b, ok := s.(*store.Bolt)
			if !ok {
				return 0, fmt.Errorf("prune: %T is not *store.Bolt", s)
			}
			return b.Prune(ctx, now)
		},
	})
}
