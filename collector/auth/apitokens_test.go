package auth

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// ListAPITokens pages in id order: with tokens created and revoked
// between pages, every token that exists from the first page to the last
// comes back exactly once.
func TestListAPITokensPaging(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 5))
	f := newFixture(t)
	adm := f.a.AdminServer()
	var ids []string
	for i := range 120 {
		resp, err := adm.CreateAPIToken(f.admin, &plumbv1.CreateAPITokenRequest{Role: plumbv1.Role_ROLE_VIEWER, Name: fmt.Sprintf("t%03d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, resp.GetName())
	}
	// Tokens revoked while paging are those created for the purpose.
	kept := map[string]bool{}
	for _, name := range ids {
		kept[name] = true
	}
	seen := map[string]int{}
	lastID := ""
	token := ""
	for n := 0; ; n++ {
		resp, err := adm.ListAPITokens(f.admin, &plumbv1.ListAPITokensRequest{PageSize: uint32(1 + rng.IntN(15)), PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range resp.GetTokens() {
			seen[tok.GetName()]++
			if tok.GetId() <= lastID {
				t.Fatalf("token %s after %s: not in id order", tok.GetId(), lastID)
			}
			lastID = tok.GetId()
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
		c, err := adm.CreateAPIToken(f.admin, &plumbv1.CreateAPITokenRequest{Role: plumbv1.Role_ROLE_VIEWER, Name: fmt.Sprintf("churn%03d", n)})
		if err != nil {
			t.Fatal(err)
		}
		if rng.IntN(2) == 0 {
			if _, err := adm.RevokeAPIToken(f.admin, &plumbv1.RevokeAPITokenRequest{Token: c.GetName()}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name := range kept {
		if seen[name] != 1 {
			t.Errorf("token %s listed %d times, want once", name, seen[name])
		}
	}
	for name, n := range seen {
		if n > 1 {
			t.Errorf("token %s listed %d times", name, n)
		}
	}
	for _, req := range []*plumbv1.ListAPITokensRequest{{PageSize: 10001}, {PageToken: "garbage!"}} {
		if _, err := adm.ListAPITokens(context.Background(), req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("ListAPITokens(%v): %v, want INVALID_ARGUMENT", req, err)
		}
	}
}
