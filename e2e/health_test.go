package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The collector's health items (gaps in what it knows of a host) reach a
// real webhook like any drift: each test makes a gap happen with the real
// binaries and waits for its notification, then for its resolution.

// awaitHealth waits for a webhook announcing the transition typ
// ("drift.opened", "drift.updated", "drift.resolved") of host's health
// item key ("reporting", "coverage", "digest", "identity"), checks the
// shape every health notification has, and returns it. Every assertion on
// a health payload goes through here and healthDetail, so a change of the
// payload (grouping several events in one notification) is adapted here.
func awaitHealth(t *testing.T, h *hook, host, key, typ string) event {
	t.Helper()
	ev := h.await(t, 60*time.Second, typ+" health "+key+" of "+host, func(ev event) bool {
		return ev.Kind == "health" && ev.Type == typ && ev.Host == host && ev.Key == key
	})
	if ev.Severity == "" || ev.ItemID == "" || healthDetail(ev) == "" || ev.Baseline != nil {
		t.Errorf("health %s %s of %s: severity %q, item %q, detail %q, baseline %v", key, typ, host, ev.Severity, ev.ItemID, healthDetail(ev), ev.Baseline)
	}
	return ev
}

// healthDetail is what a health notification says is wrong (or what
// cleared): the value of the item's current fact.
func healthDetail(ev event) string {
	attrs, _ := ev.Current["attributes"].(map[string]any)
	s, _ := attrs["value"].(string)
	return s
}

// TestReportingHealth: an agent killed outright stops reporting; after
// stale_after the collector says so at the webhook, and when the agent
// runs again, that it reports again: one item, opened then resolved.
func TestReportingHealth(t *testing.T) {
	t.Parallel()
	hook := newHook(t)
	cfg := filepath.Join(t.TempDir(), "collector.yaml")
	writeFile(t, cfg, "health: {stale_after: 2s}\n")
	dir, c, tree, agent := enrolledHostHook(t, "quiet-1", "agent", hook.srv.URL, "--config", cfg)
	// Reporting and idle is not stale: the live stream is the report.
	time.Sleep(4 * time.Second)
	for _, ev := range hook.events() {
		if ev.Kind == "health" {
			t.Fatalf("health %s %s of a streaming host", ev.Key, ev.Type)
		}
	}

	agent.kill()
	opened := awaitHealth(t, hook, "quiet-1", "reporting", "drift.opened")
	if d := healthDetail(opened); !strings.HasPrefix(d, "no report since ") || !strings.Contains(d, "stale after 2s") || opened.Severity != "warning" {
		t.Errorf("opened: severity %q, detail %q", opened.Severity, d)
	}
	awaitOpenDrift(t, c.addr, "quiet-1", 1, "the reporting item listed as open drift")

	startAgent(t, c.addr, filepath.Join(dir, "agent"), "quiet-1", tree)
	resolved := awaitHealth(t, hook, "quiet-1", "reporting", "drift.resolved")
	if resolved.ItemID != opened.ItemID || resolved.ID == opened.ID {
		t.Errorf("resolved item %s (event %s), opened item %s (event %s)", resolved.ItemID, resolved.ID, opened.ItemID, opened.ID)
	}
	awaitOpenDrift(t, c.addr, "quiet-1", 0, "no open drift once it reports again")
}

// TestCoverageHealth: an agent told to watch a path that does not exist
// reports it as a coverage gap; the collector opens the host's coverage
// item, and resolves it once the path appears and the agent sees it.
func TestCoverageHealth(t *testing.T) {
	t.Parallel()
	hook := newHook(t)
	dir := t.TempDir()
	c := startCollector(t, filepath.Join(dir, "collector"), hook.srv.URL)
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(tree, "a"), "a\n")
	later := filepath.Join(dir, "later")
	startAgent(t, c.addr, filepath.Join(dir, "agent"), "gappy-1", tree, later)
	waitBaseline(t, c.addr, "gappy-1")

	opened := awaitHealth(t, hook, "gappy-1", "coverage", "drift.opened")
	if d := healthDetail(opened); !strings.Contains(d, "missing") || !strings.Contains(d, later) || opened.Severity != "warning" {
		t.Errorf("opened: severity %q, detail %q", opened.Severity, d)
	}
	if err := os.MkdirAll(later, 0o755); err != nil {
		t.Fatal(err)
	}
	resolved := awaitHealth(t, hook, "gappy-1", "coverage", "drift.resolved")
	if resolved.ItemID != opened.ItemID {
		t.Errorf("resolved item %s, opened %s", resolved.ItemID, opened.ItemID)
	}
}
