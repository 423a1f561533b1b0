package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// goldenItem is the part of plumbctl's drift JSON these tests read.
type goldenItem struct {
	Host             string `json:"host"`
	Key              string `json:"key"`
	Change           string `json:"change"`
	Status           string `json:"status"`
	BaselineGroup    string `json:"baseline_group"`
	ExceptionToGroup string `json:"exception_to_group"`
}

// awaitDrift waits until host's drift items in state (plumbctl drift
// --state) satisfy ok, and returns them.
func awaitDrift(t *testing.T, addr, host, state, what string, ok func([]goldenItem) bool) []goldenItem {
	t.Helper()
	var items []goldenItem
	waitFor(t, 20*time.Second, what, func() bool {
		out, _, err := ctlResult(addr, "-o", "json", "drift", "--host", host, "--state", state)
		items = nil
		return err == nil && json.Unmarshal([]byte(out), &items) == nil && ok(items)
	})
	return items
}

// TestGroupBaselineThreeAgents runs three real agents labelled group=web,
// each with its own host root holding /etc, so that the three share one
// key space. Promoting web-1 holds the others to its state: web-3's extra
// file is drift at once, web-2's different /etc/hostname is not (it is
// excluded), a change on web-2 is drift naming the group, and accepting
// it on web-2 makes an exception that holds web-2 to its own value.
func TestGroupBaselineThreeAgents(t *testing.T) {
	dir := t.TempDir()
	c := startCollector(t, filepath.Join(dir, "collector"), "")
	roots := map[string]string{}
	for _, h := range []string{"web-1", "web-2", "web-3"} {
		root := filepath.Join(dir, h)
		roots[h] = root
		if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(root, "etc", "app.conf"), "workers = 4\n")
		writeFile(t, filepath.Join(root, "etc", "hostname"), h+"\n")
		writeFile(t, filepath.Join(root, "etc", "motd"), "welcome\n")
		if h == "web-3" {
			writeFile(t, filepath.Join(root, "etc", "extra.conf"), "debug = on\n")
		}
		startAgentArgs(t, c.addr, filepath.Join(dir, h+".state"), h,
			[]string{"--host-root", root, "--label", "group=web"}, "/etc")
	}
	for _, h := range []string{"web-1", "web-2", "web-3"} {
		waitBaseline(t, c.addr, h)
		awaitOpenDrift(t, c.addr, h, 0, h+" without drift against its own snapshot")
	}

	var promoted struct {
		Baseline struct {
			Group      string `json:"group"`
			SourceHost string `json:"source_host"`
			PromotedBy string `json:"promoted_by"`
			Reason     string `json:"reason"`
			FactCount  uint64 `json:"fact_count"`
		} `json:"baseline"`
		Members uint32 `json:"members"`
		Opened  uint32 `json:"opened"`
	}
	ctlJSON(t, c.addr, &promoted, "baseline", "promote", "--host", "web-1", "--group", "web", "--reason", "golden after CHG-7")
	b := promoted.Baseline
	// /etc, /etc/app.conf and /etc/motd; /etc/hostname is excluded.
	if b.Group != "web" || b.SourceHost != "web-1" || b.Reason != "golden after CHG-7" || b.PromotedBy == "" ||
		b.FactCount != 3 || promoted.Members != 3 || promoted.Opened != 1 {
		t.Errorf("promote = %+v", promoted)
	}
	// The promotion is in the audit trail, with who and why.
	var hist []historyEntryJSON
	ctlJSON(t, c.addr, &hist, "history", "--host", "web-1")
	promotedAudit := false
	for _, e := range hist {
		promotedAudit = promotedAudit || (e.Action == "baseline.promote" && e.Actor == b.PromotedBy && e.Reason == "golden after CHG-7")
	}
	if !promotedAudit {
		t.Errorf("history of web-1 lacks the promotion by %s: %+v", b.PromotedBy, hist)
	}

	// web-3 has a file the group's baseline lacks: added, against the group.
	items := awaitDrift(t, c.addr, "web-3", "open", "web-3's extra file as drift", func(it []goldenItem) bool { return len(it) == 1 })
	if it := items[0]; it.Key != "/etc/extra.conf" || it.Change != "added" || it.BaselineGroup != "web" {
		t.Errorf("web-3 drift = %+v, want /etc/extra.conf added against group web", it)
	}
	// web-2's own hostname differs from web-1's, and is no drift.
	awaitOpenDrift(t, c.addr, "web-2", 0, "web-2 in line with the group")

	// A change on web-2 is drift from the group's value.
	writeFile(t, filepath.Join(roots["web-2"], "etc", "app.conf"), "workers = 8\n")
	items = awaitDrift(t, c.addr, "web-2", "open", "web-2's change as drift", func(it []goldenItem) bool { return len(it) == 1 })
	if it := items[0]; it.Key != "/etc/app.conf" || it.Change != "modified" || it.BaselineGroup != "web" {
		t.Errorf("web-2 drift = %+v, want /etc/app.conf modified against group web", it)
	}
	var ids []struct {
		ID string `json:"id"`
	}
	ctlJSON(t, c.addr, &ids, "drift", "--host", "web-2")
	if show := ctl(t, c.addr, "drift", "show", ids[0].ID, "--host", "web-2"); !strings.Contains(show, "held to:   group web's baseline") {
		t.Errorf("drift show does not name the group:\n%s", show)
	}

	// Accept it on web-2 only: an exception to the group's baseline.
	ctl(t, c.addr, "accept", "--host", "web-2", "--key", "/etc/app.conf", "--reason", "canary with 8 workers")
	awaitOpenDrift(t, c.addr, "web-2", 0, "web-2's drift accepted")
	items = awaitDrift(t, c.addr, "web-2", "accepted", "the accepted item", func(it []goldenItem) bool { return len(it) == 1 })
	if it := items[0]; it.ExceptionToGroup != "web" {
		t.Errorf("accepted item = %+v, want an exception to group web", it)
	}
	var shown struct {
		Exceptions []struct {
			Host   string `json:"host"`
			Key    string `json:"key"`
			Reason string `json:"reason"`
		} `json:"exceptions"`
		Members uint32 `json:"members"`
	}
	ctlJSON(t, c.addr, &shown, "baseline", "show", "--group", "web")
	if len(shown.Exceptions) != 1 || shown.Exceptions[0].Host != "web-2" || shown.Exceptions[0].Key != "/etc/app.conf" ||
		shown.Exceptions[0].Reason != "canary with 8 workers" || shown.Members != 3 {
		t.Errorf("baseline show = %+v", shown)
	}
	if text := ctl(t, c.addr, "baseline", "show", "--group", "web"); !strings.Contains(text, "web-2  file  /etc/app.conf") {
		t.Errorf("baseline show text lacks the exception:\n%s", text)
	}

	// The accepted value is web-2's own expectation now: the group's
	// value on web-2 is drift, not against the group.
	writeFile(t, filepath.Join(roots["web-2"], "etc", "app.conf"), "workers = 4\n")
	items = awaitDrift(t, c.addr, "web-2", "open", "web-2 back at the group's value", func(it []goldenItem) bool { return len(it) == 1 })
	if it := items[0]; it.Key != "/etc/app.conf" || it.BaselineGroup != "" {
		t.Errorf("web-2 drift = %+v, want /etc/app.conf against its own accepted value", it)
	}
	// The same change on web-3, with no exception, is drift from the group.
	writeFile(t, filepath.Join(roots["web-3"], "etc", "app.conf"), "workers = 8\n")
	awaitDrift(t, c.addr, "web-3", "open", "web-3's change against the group", func(it []goldenItem) bool {
		for _, i := range it {
			if i.Key == "/etc/app.conf" && i.BaselineGroup == "web" {
				return true
			}
		}
		return false
	})
	if data, err := os.ReadFile(filepath.Join(roots["web-1"], "etc", "app.conf")); err != nil || string(data) != "workers = 4\n" {
		t.Fatalf("web-1's app.conf: %q, %v", data, err)
	}
}
