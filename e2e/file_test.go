package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const hookWait = 15 * time.Second

// fixture is a collector, a webhook receiver and one agent watching root.
type fixture struct {
	hook *hook
	col  *collector
	root string
	host string
}

func newFixture(t *testing.T, host string) *fixture {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "etc")
	if err := os.MkdirAll(filepath.Join(root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "hosts"), "127.0.0.1 localhost\n")
	writeFile(t, filepath.Join(root, "sub", "app.conf"), "port=80\n")
	h := newHook(t)
	col := startCollector(t, filepath.Join(dir, "collector"), h.srv.URL)
	startAgent(t, col.addr, filepath.Join(dir, "agent"), host, root)
	waitBaseline(t, col.addr, host)
	return &fixture{hook: h, col: col, root: root, host: host}
}

func TestFileDriftLifecycle(t *testing.T) {
	f := newFixture(t, "web-1")
	p := func(rel string) string { return filepath.Join(f.root, rel) }

	t.Run("create", func(t *testing.T) {
		writeFile(t, p("new.conf"), "a=1\n")
		ev := f.hook.await(t, hookWait, "create", is("drift.opened", f.host, "added", p("new.conf")))
		if ev.Baseline != nil || ev.Current == nil {
			t.Fatalf("added: baseline %v current %v", ev.Baseline, ev.Current)
		}
		attrs := ev.Current["attributes"].(map[string]any)
		if attrs["type"] != "regular" || attrs["mode"] != "0644" {
			t.Fatalf("attributes %v", attrs)
		}
		if ev.ID == "" || ev.ObservedAt == "" || ev.DetectedAt == "" || !strings.HasPrefix(ev.headers.Get("webhook-id"), "g") {
			t.Fatalf("event lacks id/times/headers: %+v", ev)
		}
	})

	t.Run("modify_and_revert", func(t *testing.T) {
		writeFile(t, p("hosts"), "10.0.0.1 evil\n")
		ev := f.hook.await(t, hookWait, "modify", is("drift.opened", f.host, "modified", p("hosts")))
		if ev.Baseline["digest"] == ev.Current["digest"] {
			t.Fatal("modified event with equal digests")
		}
		want := "127.0.0.1 localhost\n"
		if got := ev.Baseline["attributes"].(map[string]any)["size"]; got != float64(len(want)) {
			t.Fatalf("baseline size %v, want %d", got, len(want))
		}
		writeFile(t, p("hosts"), want)
		res := f.hook.await(t, hookWait, "revert", is("drift.resolved", f.host, "", p("hosts")))
		if res.ItemID != ev.ItemID {
			t.Fatalf("resolved item %s, opened %s", res.ItemID, ev.ItemID)
		}
	})

	t.Run("chmod", func(t *testing.T) {
		if err := os.Chmod(p("sub/app.conf"), 0o600); err != nil {
			t.Fatal(err)
		}
		ev := f.hook.await(t, hookWait, "chmod", is("drift.opened", f.host, "modified", p("sub/app.conf")))
		if m := ev.Current["attributes"].(map[string]any)["mode"]; m != "0600" {
			t.Fatalf("mode %v", m)
		}
	})

	t.Run("delete", func(t *testing.T) {
		writeFile(t, p("doomed"), "x")
		f.hook.await(t, hookWait, "doomed added", is("drift.opened", f.host, "added", p("doomed")))
		if err := os.Remove(p("doomed")); err != nil {
			t.Fatal(err)
		}
		// Added then gone: the item resolves (back to baseline: absent).
		f.hook.await(t, hookWait, "doomed resolved", is("drift.resolved", f.host, "", p("doomed")))
		if err := os.Remove(p("sub/app.conf")); err != nil {
			t.Fatal(err)
		}
		f.hook.await(t, hookWait, "baseline file removed", func(ev event) bool {
			return ev.Host == f.host && ev.Key == p("sub/app.conf") && ev.Change == "removed" &&
				(ev.Type == "drift.opened" || ev.Type == "drift.updated")
		})
	})

	t.Run("rename", func(t *testing.T) {
		writeFile(t, p("old-name"), "content")
		f.hook.await(t, hookWait, "old-name added", is("drift.opened", f.host, "added", p("old-name")))
		if err := os.Rename(p("old-name"), p("new-name")); err != nil {
			t.Fatal(err)
		}
		f.hook.await(t, hookWait, "new-name added", is("drift.opened", f.host, "added", p("new-name")))
		f.hook.await(t, hookWait, "old-name resolved", is("drift.resolved", f.host, "", p("old-name")))
	})

	t.Run("atomic_save", func(t *testing.T) {
		writeFile(t, p("editor.conf"), "v1\n")
		f.hook.await(t, hookWait, "editor.conf added", is("drift.opened", f.host, "added", p("editor.conf")))
		tmp := p(".editor.conf.swp")
		writeFile(t, tmp, "v2\n")
		if err := os.Rename(tmp, p("editor.conf")); err != nil {
			t.Fatal(err)
		}
		f.hook.await(t, hookWait, "atomic save", func(ev event) bool {
			return ev.Type == "drift.updated" && ev.Key == p("editor.conf") &&
				ev.Current["attributes"].(map[string]any)["sha256"] == sha256hex("v2\n")
		})
	})

	t.Run("new_directory_with_files", func(t *testing.T) {
		d := p("fresh/deeper")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		// Files created the instant the directory exists must not be missed.
		for _, n := range []string{"a", "b", "c"} {
			writeFile(t, filepath.Join(d, n), n)
		}
		for _, n := range []string{"fresh", "fresh/deeper", "fresh/deeper/a", "fresh/deeper/b", "fresh/deeper/c"} {
			f.hook.await(t, hookWait, n, is("drift.opened", f.host, "added", p(n)))
		}
	})

	t.Run("touch_is_not_drift", func(t *testing.T) {
		before := len(f.hook.events())
		now := time.Now().Add(time.Hour)
		if err := os.Chtimes(p("hosts"), now, now); err != nil {
			t.Fatal(err)
		}
		writeFile(t, p("hosts"), "127.0.0.1 localhost\n") // same content rewritten
		// A later change acts as a barrier: once it arrives, anything about
		// hosts would have arrived too.
		writeFile(t, p("barrier"), "b")
		f.hook.await(t, hookWait, "barrier", is("drift.opened", f.host, "added", p("barrier")))
		for i, ev := range f.hook.events() {
			if ev.Key == p("hosts") && i >= before {
				t.Fatalf("touch / same-content rewrite produced %s %s (event %d, %d before the touch): current %v",
					ev.Type, ev.Change, i, before, ev.Current)
			}
		}
	})

	t.Run("non_utf8_name", func(t *testing.T) {
		name := "bad\xffname"
		writeFile(t, p(name), "x")
		want := p("bad") + `\xffname`
		ev := f.hook.await(t, hookWait, "non-UTF-8 name", is("drift.opened", f.host, "added", want))
		var items []struct {
			Key string `json:"key"`
		}
		ctlJSON(t, f.col.addr, &items, "drift", "--host", f.host)
		found := false
		for _, it := range items {
			found = found || it.Key == want
		}
		if !found {
			t.Fatalf("plumbctl drift does not show %q; event %+v", want, ev)
		}
		// The escaped key pasted back accepts exactly that item.
		ctl(t, f.col.addr, "accept", "--host", f.host, "--key", want, "--reason", "test non-UTF-8")
		f.hook.await(t, hookWait, "accepted", is("drift.accepted", f.host, "", want))
	})

	t.Run("accept_all", func(t *testing.T) {
		var open []map[string]any
		ctlJSON(t, f.col.addr, &open, "drift", "--host", f.host)
		if len(open) == 0 {
			t.Fatal("expected open drift before accept")
		}
		ctl(t, f.col.addr, "accept", "--host", f.host, "--reason", "e2e: approved change")
		var after []map[string]any
		ctlJSON(t, f.col.addr, &after, "drift", "--host", f.host)
		if len(after) != 0 {
			t.Fatalf("%d items still open after accept", len(after))
		}
		// The accepted value is the new baseline: changing it back is drift.
		writeFile(t, p("new.conf"), "a=2\n")
		f.hook.await(t, hookWait, "drift against the accepted baseline", is("drift.opened", f.host, "modified", p("new.conf")))
	})
}

func TestTwoAgentsStaySeparate(t *testing.T) {
	dir := t.TempDir()
	h := newHook(t)
	col := startCollector(t, filepath.Join(dir, "collector"), h.srv.URL)
	roots := map[string]string{}
	for _, host := range []string{"alpha", "beta"} {
		root := filepath.Join(dir, host, "etc")
		if err := os.MkdirAll(root, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(root, "motd"), "hello from "+host)
		roots[host] = root
		startAgent(t, col.addr, filepath.Join(dir, host, "state"), host, root)
	}
	for host := range roots {
		waitBaseline(t, col.addr, host)
	}
	writeFile(t, filepath.Join(roots["alpha"], "motd"), "changed")
	f := filepath.Join(roots["alpha"], "motd")
	h.await(t, hookWait, "alpha drift", is("drift.opened", "alpha", "modified", f))

	var alpha, beta []map[string]any
	ctlJSON(t, col.addr, &alpha, "drift", "--host", "alpha")
	ctlJSON(t, col.addr, &beta, "drift", "--host", "beta")
	if len(alpha) != 1 || len(beta) != 0 {
		t.Fatalf("drift alpha=%d beta=%d, want 1 and 0", len(alpha), len(beta))
	}
	var facts []struct {
		Key string `json:"key"`
	}
	ctlJSON(t, col.addr, &facts, "facts", "--host", "beta", "--kind", "file")
	for _, fa := range facts {
		if strings.HasPrefix(fa.Key, roots["alpha"]) {
			t.Fatalf("beta holds alpha's fact %s", fa.Key)
		}
	}
	if len(facts) != 2 { // the root directory and motd
		t.Fatalf("beta has %d file facts, want 2: %v", len(facts), facts)
	}
}

func sha256hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
