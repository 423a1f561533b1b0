package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSeverityInPayloads: drift carries the severity the collector's
// rules give its fact, first the configured ones, then the defaults, in
// the webhook payload and in plumbctl.
func TestSeverityInPayloads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "collector.yaml")
	writeFile(t, cfg, "severity:\n  - {kind: file, key: \"**/secret*\", severity: critical}\n  - {kind: file, key: \"**/*.conf\", severity: warning}\n")
	h := newHook(t)
	c := startCollector(t, filepath.Join(dir, "collector"), h.srv.URL, "--config", cfg)
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	startAgent(t, c.addr, filepath.Join(dir, "agent"), "sev-1", tree)
	waitBaseline(t, c.addr, "sev-1")

	want := map[string]string{"secret.conf": "critical", "app.conf": "warning", "notes.txt": "info"}
	for name := range want {
		writeFile(t, filepath.Join(tree, name), name+"\n")
	}
	for name, sev := range want {
		key := filepath.Join(tree, name)
		ev := h.await(t, 15*time.Second, "drift.opened for "+name, is("drift.opened", "sev-1", "added", key))
		if ev.Severity != sev {
			t.Errorf("%s: webhook severity %q, want %q", name, ev.Severity, sev)
		}
	}
	var items []struct {
		Key      string `json:"key"`
		Severity string `json:"severity"`
	}
	ctlJSON(t, c.addr, &items, "drift", "--host", "sev-1")
	if len(items) != len(want) {
		t.Fatalf("plumbctl drift lists %d items, want %d", len(items), len(want))
	}
	for _, it := range items {
		if sev := want[filepath.Base(it.Key)]; it.Severity != sev {
			t.Errorf("plumbctl: %s severity %q, want %q", it.Key, it.Severity, sev)
		}
	}
}

// TestNotifierFilters: of two notifiers, the one whose filter asks for
// critical drift gets only that; the other gets everything. A filtered-out
// event does not hold its cursor back: after the critical one, it gets
// later critical drift too.
func TestNotifierFilters(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pager, all := newHook(t), newHook(t)
	cfg := filepath.Join(dir, "collector.yaml")
	writeFile(t, cfg, "severity:\n  - {kind: file, key: \"**/secret*\", severity: critical}\n"+
		"notifiers:\n"+
		"  - {name: pager, type: webhook, url: \""+pager.srv.URL+"\", filter: {min_severity: critical}}\n"+
		"  - {name: everything, url: \""+all.srv.URL+"\"}\n")
	c := startCollector(t, filepath.Join(dir, "collector"), "", "--config", cfg)
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	startAgent(t, c.addr, filepath.Join(dir, "agent"), "filt-1", tree)
	waitBaseline(t, c.addr, "filt-1")

	writeFile(t, filepath.Join(tree, "notes.txt"), "x\n")
	writeFile(t, filepath.Join(tree, "secret.key"), "x\n")
	all.await(t, 15*time.Second, "notes.txt to everything", is("drift.opened", "filt-1", "added", filepath.Join(tree, "notes.txt")))
	all.await(t, 15*time.Second, "secret.key to everything", is("drift.opened", "filt-1", "added", filepath.Join(tree, "secret.key")))
	pager.await(t, 15*time.Second, "secret.key to the pager", is("drift.opened", "filt-1", "added", filepath.Join(tree, "secret.key")))
	writeFile(t, filepath.Join(tree, "notes2.txt"), "x\n")
	writeFile(t, filepath.Join(tree, "secret2.key"), "x\n")
	pager.await(t, 15*time.Second, "secret2.key to the pager", is("drift.opened", "filt-1", "added", filepath.Join(tree, "secret2.key")))
	all.await(t, 15*time.Second, "notes2.txt to everything", is("drift.opened", "filt-1", "added", filepath.Join(tree, "notes2.txt")))
	for _, ev := range pager.events() {
		if ev.Severity != "critical" {
			t.Errorf("the pager got %s %s of severity %q", ev.Type, ev.Key, ev.Severity)
		}
	}
}

// TestNotifierStatus: plumbctl notifiers shows what each notifier has
// delivered and what waits: a receiver that is down has a backlog and its
// last error, without its URL (which may hold a secret).
func TestNotifierStatus(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	up := newHook(t)
	dead := "http://" + freeAddr(t) + "/secret-path-token"
	cfg := filepath.Join(dir, "collector.yaml")
	writeFile(t, cfg, "notifiers:\n"+
		"  - {name: up, url: \""+up.srv.URL+"\"}\n"+
		"  - {name: down, url: \""+dead+"\", timeout: 1s}\n")
	c := startCollector(t, filepath.Join(dir, "collector"), "", "--config", cfg)
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	startAgent(t, c.addr, filepath.Join(dir, "agent"), "ns-1", tree)
	waitBaseline(t, c.addr, "ns-1")
	writeFile(t, filepath.Join(tree, "a"), "a\n")
	up.await(t, 15*time.Second, "the change", is("drift.opened", "ns-1", "added", filepath.Join(tree, "a")))

	type status struct {
		Name        string `json:"name"`
		Backlog     uint64 `json:"backlog"`
		Delivered   uint64 `json:"delivered"`
		LastSuccess string `json:"last_success"`
		LastError   string `json:"last_error"`
		Retries     uint64 `json:"retries"`
	}
	var got map[string]status
	waitFor(t, 15*time.Second, "both notifiers' state", func() bool {
		var list []status
		out, _, err := ctlResult(c.addr, "-o", "json", "notifiers")
		if err != nil || json.Unmarshal([]byte(out), &list) != nil {
			return false
		}
		got = map[string]status{}
		for _, s := range list {
			got[s.Name] = s
		}
		return got["up"].Delivered >= 1 && got["down"].Retries >= 1 && got["down"].LastError != ""
	})
	if s := got["up"]; s.Backlog != 0 || s.LastSuccess == "" || s.LastError != "" {
		t.Errorf("the receiver that is up: %+v", s)
	}
	if s := got["down"]; s.Backlog == 0 || s.Delivered != 0 || strings.Contains(s.LastError, "secret-path-token") || strings.Contains(s.LastError, "secret") || !strings.Contains(s.LastError, "refused") {
		t.Errorf("the receiver that is down: %+v", s)
	}
}
