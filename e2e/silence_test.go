package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// silenceSummary is what a silence.ended notification says was held back.
type silenceSummary struct {
	SilenceID string `json:"silence_id"`
	Reason    string `json:"reason"`
	CreatedBy string `json:"created_by"`
	ExpiredBy string `json:"expired_by"`
	Events    uint64 `json:"events"`
	Items     uint64 `json:"items"`
	Hosts     []struct {
		Host   string `json:"host"`
		Events uint64 `json:"events"`
	} `json:"hosts"`
	Held []struct {
		ItemID    string `json:"item_id"`
		Host      string `json:"host"`
		Kind      string `json:"kind"`
		Key       string `json:"key"`
		LastEvent string `json:"last_event"`
	} `json:"held"`
}

// summaryOf reads the summary of silence id from a received notification.
// It is the one place that knows the payload's shape: today the generic
// webhook posts each event as JSON, the summary under silence_summary.
func summaryOf(ev event, id string) (*silenceSummary, bool) {
	if ev.Type != "silence.ended" || len(ev.Silence) == 0 {
		return nil, false
	}
	var s silenceSummary
	if err := json.Unmarshal(ev.Silence, &s); err != nil || s.SilenceID != id {
		return nil, false
	}
	return &s, true
}

type silenceJSON struct {
	ID         string   `json:"id"`
	State      string   `json:"state"`
	Hosts      []string `json:"hosts"`
	Reason     string   `json:"reason"`
	CreatedBy  string   `json:"created_by"`
	CreatedAt  string   `json:"created_at"`
	ExpiredBy  string   `json:"expired_by"`
	ExpiredAt  string   `json:"expired_at"`
	Summarized bool     `json:"summarized"`
}

// TestSilenceHoldsBackAndSummarizes: with the host silenced through
// plumbctl, a change to a watched file is drift that plumbctl lists, but
// no webhook is sent for it; expiring the silence sends exactly one
// summary naming the held-back item; plumbctl silence list --all shows who
// created and who expired it.
func TestSilenceHoldsBackAndSummarizes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := newHook(t)
	c := startCollector(t, filepath.Join(dir, "collector"), h.srv.URL)
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	startAgent(t, c.addr, filepath.Join(dir, "agent"), "sil-1", tree)
	waitBaseline(t, c.addr, "sil-1")

	var created silenceJSON
	ctlJSON(t, c.addr, &created, "silence", "create", "--host", "sil-1", "--for", "30m", "--reason", "kernel patching, OPS-9")
	if created.ID == "" || created.State != "active" || created.CreatedBy == "" {
		t.Fatalf("created %+v", created)
	}

	held := filepath.Join(tree, "held.conf")
	writeFile(t, held, "changed while silenced\n")
	awaitOpenDrift(t, c.addr, "sil-1", 1, "held.conf listed while silenced")
	var items []struct {
		Key string `json:"key"`
	}
	ctlJSON(t, c.addr, &items, "drift", "--host", "sil-1")
	if len(items) != 1 || items[0].Key != held {
		t.Fatalf("plumbctl drift lists %+v, want %s", items, held)
	}
	// The notifier has finished the event (its backlog is empty), and
	// sent nothing for it.
	waitFor(t, 30*time.Second, "the notifier past the held-back event", func() bool {
		var ns []struct {
			Backlog uint64 `json:"backlog"`
			Cursor  uint64 `json:"cursor"`
		}
		out, _, err := ctlResult(c.addr, "-o", "json", "notifiers")
		return err == nil && json.Unmarshal([]byte(out), &ns) == nil && len(ns) == 1 && ns[0].Backlog == 0 && ns[0].Cursor > 0
	})
	for _, ev := range h.events() {
		if ev.Key == held {
			t.Fatalf("a webhook was sent for %s while its host was silenced: %s", held, ev.Type)
		}
	}

	var expired silenceJSON
	ctlJSON(t, c.addr, &expired, "silence", "expire", created.ID)
	if expired.State != "expired" || expired.ExpiredBy != created.CreatedBy {
		t.Fatalf("expired %+v", expired)
	}
	ev := h.await(t, 30*time.Second, "the summary of "+created.ID, func(ev event) bool {
		_, ok := summaryOf(ev, created.ID)
		return ok
	})
	sum, _ := summaryOf(ev, created.ID)
	if sum.Reason != "kernel patching, OPS-9" || sum.CreatedBy != created.CreatedBy || sum.ExpiredBy != created.CreatedBy {
		t.Errorf("summary names %+v", sum)
	}
	if sum.Events < 1 || sum.Items != 1 || len(sum.Held) != 1 || sum.Held[0].Key != held || sum.Held[0].Host != "sil-1" ||
		len(sum.Hosts) != 1 || sum.Hosts[0].Host != "sil-1" {
		t.Errorf("summary of what was held back: %+v", sum)
	}

	// After the silence, drift is sent again; by then there has been one
	// summary, no more (the summary and its mark commit together).
	after := filepath.Join(tree, "after.conf")
	writeFile(t, after, "after\n")
	h.await(t, 15*time.Second, "drift after the silence", is("drift.opened", "sil-1", "added", after))
	n := 0
	for _, ev := range h.events() {
		if _, ok := summaryOf(ev, created.ID); ok {
			n++
		}
		if ev.Key == held {
			t.Errorf("a webhook was sent for the held-back %s: %s", held, ev.Type)
		}
	}
	if n != 1 {
		t.Errorf("%d summaries of %s, want 1", n, created.ID)
	}

	var list []silenceJSON
	ctlJSON(t, c.addr, &list, "silence", "list", "--all")
	if len(list) != 1 {
		t.Fatalf("silence list --all: %+v", list)
	}
	got := list[0]
	if got.ID != created.ID || got.State != "expired" || got.CreatedBy != created.CreatedBy || got.CreatedAt == "" ||
		got.ExpiredBy != created.CreatedBy || got.ExpiredAt == "" || !got.Summarized {
		t.Errorf("audit trail: %+v", got)
	}
	var active []silenceJSON
	ctlJSON(t, c.addr, &active, "silence", "list")
	if len(active) != 0 {
		t.Errorf("silence list after expiry: %+v", active)
	}
}
