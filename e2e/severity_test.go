package e2e

import (
	"os"
	"path/filepath"
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
