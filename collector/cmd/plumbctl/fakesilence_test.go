package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/auth"
	"github.com/plumb-dev/plumb/collector/silence"
	"github.com/plumb-dev/plumb/collector/store"
)

// fakeCaller is the API token name the test server records as the
// caller of silence calls (the real one names the bearer's token).
const fakeCaller = "ops-token"

// silenceClock is the silence service's clock: base, moved by `fake
// advance`.
type silenceClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *silenceClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *silenceClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// realSilences serves the real SilenceService (silence.Book on a store
// in a temporary directory) on srv, with a clock starting at base, ids
// s-0001, s-0002, ... and one maintenance window, so that plumbctl's
// output is stable and its errors are the real server's.
func realSilences(srv *grpc.Server) (*silenceClock, func(), error) {
	dir, err := os.MkdirTemp("", "plumbctl-silences")
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(filepath.Join(dir, "c.db"), store.Options{})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	clk := &silenceClock{t: base}
	n := 0
	windows, err := silence.ParseWindows([]silence.WindowConfig{{
		Name: "patch-night", Schedule: "0 2 * * 6", Duration: 2 * time.Hour, Timezone: "UTC",
		Labels: map[string]string{"env": "prod"},
	}}, base)
	if err != nil {
		return nil, nil, err
	}
	book, err := silence.Open(context.Background(), st, silence.Options{
		Now: clk.now, Windows: windows,
		NewID: func() (string, error) { n++; return fmt.Sprintf("s-%04d", n), nil },
	})
	if err != nil {
		st.Close()
		os.RemoveAll(dir)
		return nil, nil, err
	}
	plumbv1.RegisterSilenceServiceServer(srv, silence.NewServer(book))
	if err := realPolicy(srv, st, clk); err != nil {
		st.Close()
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return clk, func() { st.Close(); os.RemoveAll(dir) }, nil
}

// callerInterceptor makes every call come from fakeCaller.
func callerInterceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	return handler(auth.WithCaller(ctx, auth.Caller{Name: fakeCaller, Role: plumbv1.Role_ROLE_OPERATOR}), req)
}
