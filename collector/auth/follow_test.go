package auth

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/pki"
)

// closer records the streams an Authority ends.
type closer struct {
	mu     sync.Mutex
	closed map[string]error
}

func (c *closer) CloseHost(host string, cause error) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed[host] = cause
	return 1
}

func (c *closer) get(host string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed[host]
}

// A host revoked through collector A, streaming to collector B, has its
// stream on B ended by B's follower; B's other streams stay.
func TestFollowRevocationsOfAnotherCollector(t *testing.T) {
	f := newFixture(t) // collector A
	es := f.a.EnrollServer()
	for _, h := range []string{"web1", "web2"} {
		key, _ := pki.GenerateKey()
		if _, err := es.Enroll(context.Background(), &plumbv1.EnrollRequest{JoinToken: f.joinToken(t, 1), CsrDer: csrFor(t, h, key)}); err != nil {
			t.Fatal(err)
		}
	}
	b := New(f.a.st, Options{CA: f.ca, CertTTL: time.Hour}) // collector B, same database
	streams := &closer{closed: map[string]error{}}
	b.SetStreams(streams)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		b.FollowRevocations(ctx, 10*time.Millisecond, func() []string { return []string{"web1", "web2"} })
	})
	defer func() { cancel(); wg.Wait() }()

	if _, err := f.a.AdminServer().RevokeHost(f.admin, &plumbv1.RevokeHostRequest{HostId: "web1"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for streams.get("web1") == nil {
		if time.Now().After(deadline) {
			t.Fatal("B did not end the revoked host's stream")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if code := status.Code(streams.get("web1")); code != codes.PermissionDenied {
		t.Errorf("ended with %v, want PermissionDenied", code)
	}
	if err := streams.get("web2"); err != nil {
		t.Errorf("web2 (not revoked) ended: %v", err)
	}
}
