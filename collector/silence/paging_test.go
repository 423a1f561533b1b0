package silence

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// ListSilences pages in (start, id) order: with silences created and
// expired between pages, every silence that existed before the first page
// comes back exactly once, in order.
func TestListSilencesPaging(t *testing.T) {
	ctx := context.Background()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	st, _ := openStore(t)
	clk := &clock{t: t0}
	b, err := Open(ctx, st, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(b)
	create := func() *plumbv1.Silence {
		// Several silences share a start; ids break the tie.
		if rng.IntN(3) == 0 {
			clk.Add(time.Duration(rng.IntN(60)) * time.Second)
		}
		s, err := b.Create(ctx, Matcher{Hosts: []string{"web-*"}}, time.Hour+time.Duration(rng.IntN(3600))*time.Second, "work", "alice")
		if err != nil {
			t.Fatal(err)
		}
		return ToProto(s, clk.Now())
	}
	before := map[string]bool{}
	for range 150 {
		before[create().GetId()] = true
	}
	seen := map[string]int{}
	var last *plumbv1.Silence
	token := ""
	for pages := 0; ; pages++ {
		resp, err := srv.ListSilences(ctx, &plumbv1.ListSilencesRequest{IncludeEnded: true, PageSize: uint32(1 + rng.IntN(20)), PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range resp.GetSilences() {
			seen[s.GetId()]++
			if last != nil && (s.GetStartsAtUnixNano() < last.GetStartsAtUnixNano() ||
				(s.GetStartsAtUnixNano() == last.GetStartsAtUnixNano() && s.GetId() <= last.GetId())) {
				t.Fatalf("%s listed after %s: not in (start, id) order", s.GetId(), last.GetId())
			}
			last = s
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
		// Meanwhile: new silences, and an early expiry.
		create()
		if _, err := b.Expire(ctx, resp.GetSilences()[0].GetId(), "bob"); err != nil {
			t.Fatal(err)
		}
	}
	for id := range before {
		if seen[id] != 1 {
			t.Errorf("silence %s listed %d times, want once", id, seen[id])
		}
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("silence %s listed %d times", id, n)
		}
	}

	for _, tc := range []struct {
		req  *plumbv1.ListSilencesRequest
		want string
	}{
		{&plumbv1.ListSilencesRequest{PageSize: 10001}, "page_size"},
		{&plumbv1.ListSilencesRequest{PageToken: "AQ"}, "page_token"},
		{&plumbv1.ListSilencesRequest{PageToken: fmt.Sprintf("%x", 1)}, "page_token"},
	} {
		_, err := srv.ListSilences(ctx, tc.req)
		if s, _ := status.FromError(err); s.Code() != codes.InvalidArgument || !strings.Contains(s.Message(), tc.want) {
			t.Errorf("ListSilences(%v): %v, want INVALID_ARGUMENT naming %s", tc.req, err, tc.want)
		}
	}
	// A token of the list with ended silences is not one of the list
	// without.
	resp, err := srv.ListSilences(ctx, &plumbv1.ListSilencesRequest{IncludeEnded: true, PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.ListSilences(ctx, &plumbv1.ListSilencesRequest{PageToken: resp.GetNextPageToken()}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("token with other filters: %v", err)
	}
}
