package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// driftShowJSON is `plumbctl -o json drift show`.
type driftShowJSON struct {
	ID      string `json:"id"`
	Host    string `json:"host"`
	Key     string `json:"key"`
	Status  string `json:"status"`
	Content *struct {
		State    string `json:"state"`
		Diff     string `json:"diff"`
		Redacted bool   `json:"redacted"`
	} `json:"content"`
}

// TestContentDiffs: an agent opted in to a directory's content sends each
// change of a text file there as a diff. The diff `plumbctl drift show`
// prints has exactly the -/+ lines diff -u finds between the two contents
// written; a secret's value never appears in anything the collector's API
// returns, while the item says redacted; a file of mode 0600 shows
// "content not kept".
func TestContentDiffs(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	dir := t.TempDir()
	c := startCollector(t, filepath.Join(dir, "collector"), "")
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(tree, "app.conf")
	private := filepath.Join(tree, "private.conf")
	var lines []string
	for i := range 60 {
		lines = append(lines, fmt.Sprintf("option_%d = %d", i, r.IntN(100000)))
	}
	v1 := strings.Join(lines, "\n") + "\n"
	writeFile(t, conf, v1)
	if err := os.WriteFile(private, []byte("token_seed = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "agent.yaml")
	writeFile(t, cfg, fmt.Sprintf("sources:\n  file:\n    content:\n      paths: [%q]\n", tree+"/**"))
	startAgentArgs(t, c.addr, filepath.Join(dir, "agent"), "content-1", []string{"--config", cfg}, tree)
	waitBaseline(t, c.addr, "content-1")

	// Change a few lines, and add one that carries a secret.
	secret := fmt.Sprintf("S3cr3t-%d", r.Uint64())
	next := append([]string(nil), lines...)
	for _, i := range r.Perm(len(next))[:2+r.IntN(4)] {
		next[i] = fmt.Sprintf("option_%d = changed-%d", i, r.IntN(100000))
	}
	at := r.IntN(len(next))
	next = append(next[:at], append([]string{"db_password = " + secret}, next[at:]...)...)
	v2 := strings.Join(next, "\n") + "\n"
	// Replaced whole, by a rename from outside the tree, so that the
	// agent can never read it half-written.
	staged := filepath.Join(dir, "app.conf.new")
	writeFile(t, staged, v2)
	if err := os.Rename(staged, conf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(private, []byte("token_seed = 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	awaitOpenDrift(t, c.addr, "content-1", 2, "drift of both files")

	var items []struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	ctlJSON(t, c.addr, &items, "drift", "--host", "content-1")
	ids := map[string]string{}
	for _, it := range items {
		ids[it.Key] = it.ID
	}

	// The oracle: diff -u of the two contents, run on files of our own.
	oracle := diffU(t, dir, v1, v2)
	var show driftShowJSON
	waitFor(t, 15*time.Second, "the diff of "+conf, func() bool {
		out, _, err := ctlResult(c.addr, "-o", "json", "drift", "show", ids[conf])
		return err == nil && json.Unmarshal([]byte(out), &show) == nil && show.Content != nil && show.Content.State == "diff"
	})
	if !show.Content.Redacted {
		t.Errorf("content not marked redacted: %+v", show.Content)
	}
	gotMinus, gotPlus := changed(show.Content.Diff)
	wantMinus, wantPlus := changed(oracle)
	// The secret line is the one line that differs, redacted.
	for i, l := range wantPlus {
		if strings.Contains(l, secret) {
			wantPlus[i] = "db_password = <redacted>"
		}
	}
	if strings.Join(gotMinus, "\n") != strings.Join(wantMinus, "\n") || strings.Join(gotPlus, "\n") != strings.Join(wantPlus, "\n") {
		t.Fatalf("diff from the collector:\n%s\ndiff -u of what was written:\n%s", show.Content.Diff, oracle)
	}

	// The text form says so too, and shows the diff.
	text := ctl(t, c.addr, "drift", "show", ids[conf], "--host", "content-1")
	if !strings.Contains(text, "(secrets redacted)") || !strings.Contains(text, "+db_password = <redacted>") {
		t.Errorf("drift show:\n%s", text)
	}
	privText := ctl(t, c.addr, "drift", "show", ids[private])
	if !strings.Contains(privText, "content:   content not kept") {
		t.Errorf("drift show of a 0600 file:\n%s", privText)
	}
	var priv driftShowJSON
	ctlJSON(t, c.addr, &priv, "drift", "show", ids[private])
	if priv.Content == nil || priv.Content.State != "not_kept" || priv.Content.Diff != "" {
		t.Errorf("drift show -o json of a 0600 file: content %+v", priv.Content)
	}

	// The secret's value is in nothing the API returns.
	for _, args := range [][]string{
		{"-o", "json", "drift", "--all"},
		{"-o", "json", "drift", "show", ids[conf]},
		{"drift", "show", ids[conf]},
		{"-o", "json", "facts", "--host", "content-1"},
		{"-o", "json", "hosts"},
	} {
		if out := ctl(t, c.addr, args...); strings.Contains(out, secret) {
			t.Errorf("plumbctl %v shows the secret:\n%s", args, out)
		}
	}
}

// diffU returns diff -u of a and b.
func diffU(t *testing.T, dir, a, b string) string {
	t.Helper()
	pa, pb := filepath.Join(dir, "oracle-a"), filepath.Join(dir, "oracle-b")
	writeFile(t, pa, a)
	writeFile(t, pb, b)
	out, err := exec.Command("diff", "-u", pa, pb).Output()
	if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != 1) {
		t.Fatalf("diff -u: %v", err)
	}
	return string(out)
}

// changed returns a unified diff's removed and added lines, in order.
func changed(diff string) (minus, plus []string) {
	for _, l := range strings.Split(diff, "\n") {
		switch {
		case strings.HasPrefix(l, "---"), strings.HasPrefix(l, "+++"):
		case strings.HasPrefix(l, "-"):
			minus = append(minus, l[1:])
		case strings.HasPrefix(l, "+"):
			plus = append(plus, l[1:])
		}
	}
	return minus, plus
}
