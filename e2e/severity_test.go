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
