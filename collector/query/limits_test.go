package query

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/limits"
)

func TestListFactsPages(t *testing.T) {
	r := newRig(t)
	r.seed()
	ctx := ctxT(t)
	var got []string
	var token string
	pages := 0
	for {
		resp, err := r.client.ListFacts(ctx, &plumbv1.ListFactsRequest{HostId: "web-1", PageSize: 3, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetFacts()) > 3 {
			t.Fatalf("page of %d facts, asked for 3", len(resp.GetFacts()))
		}
		for _, f := range resp.GetFacts() {
			got = append(got, string(f.GetKey()))
		}
		pages++
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if strings.Join(got, ",") != "ext4,a,b,c" || pages != 2 {
		t.Fatalf("paged %q in %d pages, want ext4,a,b,c in 2", got, pages)
	}
	resp, err := r.client.ListFacts(ctx, &plumbv1.ListFactsRequest{HostId: "web-1", PageSize: 4})
	if err != nil || len(resp.GetFacts()) != 4 || resp.GetNextPageToken() != "" {
		t.Fatalf("a page of exactly every fact: %v, %v (want no next token)", resp, err)
	}
	_, err = r.client.ListFacts(ctx, &plumbv1.ListFactsRequest{HostId: "web-1", PageSize: 100001})
	wantCode(t, err, codes.InvalidArgument, "list_facts_page_size")
	_, err = r.client.ListFacts(ctx, &plumbv1.ListFactsRequest{HostId: "web-1", PageToken: "!!"})
	wantCode(t, err, codes.InvalidArgument, "page_token")
}

func TestWatchStreamsCapped(t *testing.T) {
	l := limits.NewDefaults()
	l.MaxWatchStreams = 2
	lm := limits.NewMetrics(nil)
	r := newRig(t, func(s *Server) { s.WithLimits(l, lm) })
	ctx := ctxT(t)
	r.watch(ctx, "")
	r.watch(ctx, "")
	third, err := r.client.WatchDrift(ctx, &plumbv1.WatchDriftRequest{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = third.Recv()
	wantCode(t, err, codes.ResourceExhausted, "watch_streams")
	if lm.Rejected(limits.WatchStreams) != 1 {
		t.Fatal("refusal not counted")
	}
}

// A watcher that stops reading is dropped with the seq to resume after;
// resuming there misses nothing and repeats nothing.
func TestSlowWatcherDroppedWithResumeCursor(t *testing.T) {
	l := limits.NewDefaults()
	l.WatchSendTimeout = 300 * time.Millisecond
	lm := limits.NewMetrics(nil)
	r := newRig(t, func(s *Server) { s.WithLimits(l, lm) })
	r.apply("web-1", checkpoint()) // baseline: every later fact opens drift
	ctx := ctxT(t)
	slow := r.watch(ctx, "")
	const n = 20000
	for i := 0; i < n; i += 5000 {
		var ds []*plumbv1.Delta
		for j := i; j < i+5000; j++ {
			ds = append(ds, upsert(sysctl(fmt.Sprintf("k%06d-%s", j, strings.Repeat("v", 100)), "1")))
		}
		r.apply("web-1", ds...)
	}
	deadline := time.Now().Add(10 * time.Second)
	for lm.Rejected(limits.WatchSlow) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a watcher that did not read for 10s was not dropped")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var seqs []uint64
	var end error
	for {
		resp, err := slow.Recv()
		if err != nil {
			end = err
			break
		}
		seqs = append(seqs, resp.GetEvent().GetSeq())
	}
	s := status.Convert(end)
	m := regexp.MustCompile(`after_seq (\d+)`).FindStringSubmatch(s.Message())
	if s.Code() != codes.ResourceExhausted || m == nil {
		t.Fatalf("slow watcher ended %v, want ResourceExhausted naming after_seq", s)
	}
	after, _ := strconv.ParseUint(m[1], 10, 64)
	if len(seqs) == 0 || len(seqs) >= n || seqs[len(seqs)-1] != after {
		t.Fatalf("received %d events before the drop, last %v; cursor %d", len(seqs), seqs[len(seqs)-1:], after)
	}
	resumed, err := r.client.WatchDrift(ctx, &plumbv1.WatchDriftRequest{AfterSeq: after})
	if err != nil {
		t.Fatal(err)
	}
	got := len(seqs)
	for next := after + 1; got < n; next++ {
		ev := recv(t, resumed)
		if ev.GetSeq() != next {
			t.Fatalf("resumed watch: seq %d, want %d", ev.GetSeq(), next)
		}
		got++
	}
}
