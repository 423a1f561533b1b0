package e2e

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestListsPage runs the real collector (TLS) and agent, and plumbctl
// with small pages: every list comes back whole, each item once, in
// order, equal to what is on the disk; the filters select what the disk
// says they should.
func TestListsPage(t *testing.T) {
	const host = "paging-1"
	dir := t.TempDir()
	c := startCollector(t, filepath.Join(dir, "collector"), "")
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 150 {
		writeFile(t, filepath.Join(tree, fmt.Sprintf("base-%03d", i)), fmt.Sprintf("%d\n", i))
	}
	startAgent(t, c.addr, filepath.Join(dir, "state"), host, tree)
	waitBaseline(t, c.addr, host)
	var added []string
	for i := range 80 {
		p := filepath.Join(tree, fmt.Sprintf("new-%03d.conf", i))
		writeFile(t, p, "new\n")
		added = append(added, p)
	}
	awaitOpenDrift(t, c.addr, host, len(added), "drift of every new file")

	// The disk: every path under the tree, the tree itself included.
	var onDisk []string
	err := filepath.WalkDir(tree, func(p string, _ fs.DirEntry, err error) error {
		onDisk = append(onDisk, p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(onDisk)

	type keyed struct {
		Key string `json:"key"`
	}
	keys := func(args ...string) []string {
		t.Helper()
		var items []keyed
		ctlJSON(t, c.addr, &items, args...)
		var out []string
		for _, it := range items {
			out = append(out, it.Key)
		}
		return out
	}
	// 231 facts in pages of 7: 33 calls.
	if got := keys("facts", "--host", host, "--kind", "file", "--page-size", "7"); !slices.Equal(got, onDisk) {
		t.Errorf("facts in pages of 7: %d keys, want the %d paths on disk, each once, in order\ngot:  %v\nwant: %v", len(got), len(onDisk), got, onDisk)
	}
	if got := keys("drift", "--host", host, "--page-size", "9"); !slices.Equal(got, added) {
		t.Errorf("drift in pages of 9: %d items, want the %d files added, each once, in order", len(got), len(added))
	}
	// Filters, against the disk.
	var conf []string
	for _, p := range onDisk {
		if m, _ := filepath.Match(filepath.Join(tree, "new-01*.conf"), p); m {
			conf = append(conf, p)
		}
	}
	if got := keys("facts", "--host", host, "--key", filepath.Join(tree, "new-01*.conf"), "--page-size", "3"); !slices.Equal(got, conf) || len(conf) != 10 {
		t.Errorf("facts --key new-01*.conf: %v, want %v", got, conf)
	}
	if got := keys("drift", "--key", tree+"/**/new-07*", "--state", "open", "--page-size", "4"); len(got) != 10 || !slices.Equal(got, added[70:]) {
		t.Errorf("drift --key **/new-07*: %v, want %v", got, added[70:])
	}
	if got := keys("drift", "--host", host, "--state", "resolved"); len(got) != 0 {
		t.Errorf("no drift resolved yet, listed %v", got)
	}

	// The table: a header and one row per fact, none twice.
	out := ctl(t, c.addr, "facts", "--host", host, "--page-size", "5")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 1+len(onDisk) || !strings.HasPrefix(lines[0], "KIND") {
		t.Errorf("facts table in pages of 5: %d lines, want a header and %d rows", len(lines), len(onDisk))
	}

	// API tokens through the admin service: the bootstrap admin and 7 more.
	for i := range 7 {
		ctl(t, c.addr, "apitoken", "create", "--role", "viewer", "--name", fmt.Sprintf("pager-%d", i))
	}
	var tokens []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	ctlJSON(t, c.addr, &tokens, "apitoken", "list", "--page-size", "2")
	var names []string
	for i, tok := range tokens {
		names = append(names, tok.Name)
		if i > 0 && tok.ID <= tokens[i-1].ID {
			t.Errorf("tokens not in id order: %s after %s", tok.ID, tokens[i-1].ID)
		}
	}
	for i := range 7 {
		if n := slices.Index(names, fmt.Sprintf("pager-%d", i)); n < 0 {
			t.Errorf("token pager-%d missing from %v", i, names)
		}
	}
	if len(tokens) < 8 {
		t.Errorf("%d tokens listed, want the admin's and 7 more: %v", len(tokens), names)
	}

	// The raw list is a valid JSON array even when written item by item.
	raw := ctl(t, c.addr, "-o", "json", "hosts", "--page-size", "1", "--host", "paging-*", "--state", "connected")
	var hosts []hostJSON
	if err := json.Unmarshal([]byte(raw), &hosts); err != nil || len(hosts) != 1 || hosts[0].HostID != host {
		t.Errorf("hosts --host paging-* --state connected: %v, %s", err, raw)
	}
	raw = ctl(t, c.addr, "-o", "json", "hosts", "--state", "stale")
	if strings.TrimSpace(raw) != "[]" {
		t.Errorf("hosts --state stale: %s, want []", raw)
	}
}
