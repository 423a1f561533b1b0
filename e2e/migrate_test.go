package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/collector/store/pgtest"
)

// TestMigrateBoltToPostgres runs a collector on bbolt with an agent and
// some drift, stops it, migrates its state with `plumb-collector migrate`
// into a private PostgreSQL, and starts a collector on PostgreSQL at the
// same address: the agent reconnects and resumes where it was (no
// resync), the drift items and the history are the same, the collector's
// facts equal the files on disk, and new changes flow.
func TestMigrateBoltToPostgres(t *testing.T) {
	t.Setenv("PLUMB_E2E_STORE", "") // the source collector is on bbolt whatever the suite's store
	pg := pgtest.Start(t)
	dsn := pg.NewDatabase(t)
	const host = "mig-1"
	dir := t.TempDir()
	data := filepath.Join(dir, "collector")
	hk := newHook(t)
	c := startCollector(t, data, hk.srv.URL)
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"a": "a\n", "b": "b\n", "c\xff": "non-UTF-8 name\n"}
	for name, content := range files {
		writeFile(t, filepath.Join(tree, name), content)
	}
	agent := startAgent(t, c.addr, filepath.Join(dir, "state"), host, tree)
	waitBaseline(t, c.addr, host)
	// Drift: a change, a new file, a removal.
	files["a"] = "a changed\n"
	writeFile(t, filepath.Join(tree, "a"), files["a"])
	files["d"] = "new\n"
	writeFile(t, filepath.Join(tree, "d"), files["d"])
	delete(files, "b")
	if err := os.Remove(filepath.Join(tree, "b")); err != nil {
		t.Fatal(err)
	}
	driftIDs := func() []string {
		var items []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		}
		out, _, err := ctlResult(c.addr, "-o", "json", "drift", "--all", "--host", host)
		if err != nil || json.Unmarshal([]byte(out), &items) != nil {
			return nil
		}
		var ids []string
		for _, it := range items {
			ids = append(ids, it.ID+" "+it.Status)
		}
		return ids
	}
	waitFor(t, 30*time.Second, "three drift items", func() bool { return len(driftIDs()) == 3 })
	waitFor(t, 30*time.Second, "three drift events at the webhook", func() bool { return len(hk.events()) >= 3 })
	wantDrift := driftIDs()
	wantHistory := ctl(t, c.addr, "-o", "json", "history", "--host", host)
	if !strings.Contains(wantHistory, "\"action\"") {
		t.Fatalf("history before the migration holds no transitions: %s", wantHistory)
	}

	migrate := func(to string) (string, error) {
		cmd := exec.Command(bin.collector, "migrate", "--from", "bolt:"+data, "--to", to, "--lock-timeout", "500ms")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// A running collector holds the file.
	if out, err := migrate(dsn); err == nil || !strings.Contains(out, "stop plumb-collector first") {
		t.Fatalf("migrate with the collector running: err %v, output:\n%s", err, out)
	}
	c.stop()
	// The password of the target never shows, even when it is wrong.
	withPW := strings.Replace(dsn, pgtest.User+"@", pgtest.User+":not-the-password-xyz@", 1)
	out, err := migrate(withPW)
	if err != nil || !strings.Contains(out, "verified: 1 hosts") {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if strings.Contains(out, "not-the-password-xyz") {
		t.Errorf("migrate printed the DSN's password:\n%s", out)
	}
	t.Logf("migrate:\n%s", out)
	// Counts are printed per table, and a few must be non-zero.
	for _, table := range []string{"hosts", "facts", "baselines", "drift", "events", "cursors", "api_tokens", "identities", "secrets"} {
		if m := regexp.MustCompile(`(?m)^\s*` + table + `\s+(\d+)\s+(\d+)`).FindStringSubmatch(out); m == nil || m[1] != m[2] || m[1] == "0" {
			t.Errorf("migrate summary: %s: %v, want equal non-zero counts", table, m)
		}
	}
	// Into a non-empty database: refused.
	if out, err := migrate(dsn); err == nil || !strings.Contains(out, "not empty") {
		t.Errorf("second migrate into the same database: err %v, output:\n%s", err, out)
	}

	// A collector on PostgreSQL, at the same address and with the same
	// data directory (its CA and admin token), without the bbolt file.
	if err := os.Rename(filepath.Join(data, "plumb.db"), filepath.Join(dir, "plumb.db.migrated")); err != nil {
		t.Fatal(err)
	}
	delivered := len(hk.events())
	c2 := startCollectorAt(t, c.addr, data, hk.srv.URL, "--store-dsn", dsn)
	logged(t, c2.proc, 60*time.Second, "agent connected", host)
	if !regexp.MustCompile(`agent connected.*applied_seq=[1-9]`).MatchString(c2.out.String()) {
		t.Errorf("the agent did not resume at its applied seq:\n%s", c2.out.String())
	}
	if got := driftIDs(); strings.Join(got, ",") != strings.Join(wantDrift, ",") {
		t.Errorf("drift after the migration %v, want %v", got, wantDrift)
	}
	if got := ctl(t, c2.addr, "-o", "json", "history", "--host", host); got != wantHistory {
		t.Errorf("history after the migration differs:\n got %s\nwant %s", got, wantHistory)
	}
	// New changes flow through PostgreSQL.
	files["e"] = "after the migration\n"
	writeFile(t, filepath.Join(tree, "e"), files["e"])
	files["a"] = "a changed again\n"
	writeFile(t, filepath.Join(tree, "a"), files["a"])
	waitFor(t, 30*time.Second, "the collector on PostgreSQL to hold the disk's files", func() bool {
		return factsEqualDisk(c2.addr, host, tree, files) == ""
	})
	if diff := factsEqualDisk(c2.addr, host, tree, files); diff != "" {
		t.Error(diff)
	}
	// The notifier resumes at its migrated cursor: the new drift arrives,
	// nothing delivered before the migration is sent again.
	hk.await(t, 30*time.Second, "drift of e after the migration", func(e event) bool {
		return strings.HasSuffix(e.Key, "/e") && e.Host == host
	})
	seen := map[string]int{}
	for _, e := range hk.events() {
		seen[e.ID]++
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("event %s delivered %d times", id, n)
		}
	}
	if len(hk.events()) <= delivered {
		t.Errorf("no events delivered after the migration")
	}
	for _, p := range []*proc{agent, c2.proc} {
		for _, s := range []string{"resynced buckets that differed", "bucket resynced"} {
			if strings.Contains(p.out.String(), s) {
				t.Errorf("%s logged %q: the migration cost a resync", p.name, s)
			}
		}
	}
}

// factsEqualDisk compares the collector's file facts under tree with the
// files: "" when equal, else what differs.
func factsEqualDisk(addr, host, tree string, files map[string]string) string {
	var facts []factAttrsJSON
	out, _, err := ctlResult(addr, "-o", "json", "facts", "--host", host, "--kind", "file")
	if err != nil || json.Unmarshal([]byte(out), &facts) != nil {
		return "plumbctl facts failed: " + out
	}
	got := map[string]string{}
	for _, f := range facts {
		if s, ok := f.Attributes["sha256"].(string); ok && strings.HasPrefix(f.Key, tree+"/") {
			got[f.Key] = s
		}
	}
	var diffs []string
	for name, content := range files {
		key := filepath.Join(tree, name)
		if !strings.Contains(name, "\xff") {
			if got[key] != sha256Hex(content) {
				diffs = append(diffs, key+": collector "+got[key]+", disk "+sha256Hex(content))
			}
			delete(got, key)
		}
	}
	// The non-UTF-8 name is shown escaped: match it by content.
	for k, s := range got {
		if s == sha256Hex(files["c\xff"]) {
			delete(got, k)
		}
	}
	for k := range got {
		diffs = append(diffs, k+": in the collector, not on disk")
	}
	return strings.Join(diffs, "; ")
}
