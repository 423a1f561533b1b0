package query

import (
	"context"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
)

// With a live window (collectors sharing a database), a host with no
// stream here counts as connected while another collector's heartbeat
// keeps its LastSeen recent, and as disconnected once it is older.
func TestLiveWindowCountsHostsOfOtherCollectors(t *testing.T) {
	r := newRig(t, func(s *Server) { s.WithLiveWindow(time.Minute) })
	err := r.st.Update(context.Background(), func(tx store.Tx) error {
		for id, seen := range map[string]time.Time{
			"elsewhere": time.Now().Add(-10 * time.Second),
			"gone":      time.Now().Add(-2 * time.Minute),
		} {
			if err := tx.PutHost(&store.Host{ID: id, LastSeen: seen.UnixNano()}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := r.client.ListHosts(ctxT(t), &plumbv1.ListHostsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, h := range resp.GetHosts() {
		got[h.GetHostId()] = h.GetConnected()
	}
	if !got["elsewhere"] || got["gone"] {
		t.Errorf("connected = %v, want elsewhere true, gone false", got)
	}
	resp, err = r.client.ListHosts(ctxT(t), &plumbv1.ListHostsRequest{State: plumbv1.HostState_HOST_STATE_CONNECTED})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.GetHosts()); n != 1 || resp.GetHosts()[0].GetHostId() != "elsewhere" {
		t.Errorf("state=connected lists %v, want only elsewhere", resp.GetHosts())
	}
}
