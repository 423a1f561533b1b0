package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plumb-dev/plumb/agent/source/dpkg/dpkgtest"
)

// TestPolicyExpectations holds a real agent (dpkg and file sources, the
// real dpkg database of this machine, label group=web) to a declared
// policy: a rule requiring a dpkg version above the installed one, and a
// rule that a file in the watched tree must exist. The dry run lists both
// violations and opens nothing; applying opens an expectation item per
// rule naming it (webhooks too), which cannot be accepted; creating the
// file resolves its item, and a policy the installed version complies
// with resolves the other. History lists both versions.
func TestPolicyExpectations(t *testing.T) {
	dpkgtest.Need(t)
	t.Parallel()
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", "dpkg").Output()
	if err != nil || len(out) == 0 {
		t.Fatalf("dpkg-query -W dpkg: %v %q", err, out)
	}
	installed := string(out)

	dir := t.TempDir()
	const host = "policy-web-1"
	h := newHook(t)
	col := startCollector(t, filepath.Join(dir, "collector"), h.srv.URL)
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(tree, "a"), "a\n")
	marker := filepath.Join(tree, "marker")
	startSourcesAgent(t, col.addr, filepath.Join(dir, "agent"), host, "dpkg,file",
		"--watch", tree, "--label", "group=web", "--label", "env=test")
	waitBaseline(t, col.addr, host)

	strict := filepath.Join(dir, "strict.yaml")
	writeFile(t, strict, `rules:
  - name: web-dpkg
    selector: group=web,env=test
    package: dpkg
    version: "> `+installed+`"
  - name: marker-present
    selector: group=web
    file: `+marker+`
    exists: true
  - name: db-only
    selector: group=db
    sysctl: net.ipv4.ip_forward
    value: "0"
`)

	var dry struct {
		DryRun     bool `json:"dry_run"`
		Hosts      int  `json:"hosts"`
		Violations []struct{ Host, Rule, Detail string }
	}
	ctlJSON(t, col.addr, &dry, "policy", "apply", "-f", strict, "--dry-run")
	rules := map[string]string{}
	for _, v := range dry.Violations {
		if v.Host == host {
			rules[v.Rule] = v.Detail
		}
	}
	if !dry.DryRun || dry.Hosts != 1 || len(rules) != 2 || !strings.Contains(rules["web-dpkg"], "is "+installed+", policy web-dpkg wants > "+installed) {
		t.Fatalf("dry run: %+v; want %s violating web-dpkg and marker-present", dry, host)
	}
	awaitOpenDrift(t, col.addr, host, 0, "no drift after a dry run")
	if _, _, err := ctlResult(col.addr, "policy", "show"); err == nil {
		t.Fatal("policy show succeeds after only a dry run")
	}

	ctl(t, col.addr, "policy", "apply", "-f", strict)
	opened := h.await(t, hookWait, "web-dpkg opened", is("drift.opened", host, "", "web-dpkg"))
	if got := eventAttr(opened, false, "value"); opened.Kind != "expectation" ||
		!strings.HasPrefix(got, "package dpkg:") || !strings.Contains(got, "is "+installed+", policy web-dpkg wants > "+installed) {
		t.Errorf("web-dpkg opened: kind %s, value %q", opened.Kind, got)
	}
	h.await(t, hookWait, "marker-present opened", is("drift.opened", host, "", "marker-present"))
	awaitOpenDrift(t, col.addr, host, 2, "two expectation items")

	// Not acceptable: the host complies or the policy changes.
	_, stderr, err := ctlResult(col.addr, "accept", "--host", host, "--kind", "expectation", "--key", "web-dpkg", "--reason", "no")
	if err == nil || !strings.Contains(stderr, "cannot be accepted") {
		t.Errorf("accept of an expectation item: %v %s", err, stderr)
	}

	writeFile(t, marker, "here\n")
	h.await(t, hookWait, "marker-present resolved", is("drift.resolved", host, "", "marker-present"))

	complies := filepath.Join(dir, "complies.yaml")
	writeFile(t, complies, `rules:
  - name: web-dpkg
    selector: group=web
    package: dpkg
    version: ">= `+installed+`, < `+installed+`.0~"
`)
	// The file was added to the watched tree: that is ordinary drift.
	ctl(t, col.addr, "policy", "apply", "-f", complies)
	h.await(t, hookWait, "web-dpkg resolved", is("drift.resolved", host, "", "web-dpkg"))
	var items []map[string]any
	ctlJSON(t, col.addr, &items, "drift", "--host", host)
	for _, it := range items {
		if it["kind"] == "expectation" {
			t.Errorf("expectation item still open: %v", it)
		}
	}

	var history []struct {
		Version uint64
		Author  string
		Rules   int
	}
	ctlJSON(t, col.addr, &history, "policy", "history")
	if len(history) != 2 || history[0].Version != 2 || history[1].Version != 1 || history[1].Rules != 3 || history[0].Author == "" {
		t.Errorf("policy history %+v, want versions 2 and 1 with an author", history)
	}
	// Each apply is in the fleet's audit trail, by its author.
	var audit []historyEntryJSON
	ctlJSON(t, col.addr, &audit, "history")
	applies := 0
	for _, e := range audit {
		if e.Action == "policy.apply" && e.Actor == history[0].Author {
			applies++
		}
	}
	if applies != 2 {
		t.Errorf("fleet history has %d policy.apply entries by %s, want 2: %+v", applies, history[0].Author, audit)
	}
	var shown struct{ YAML string }
	ctlJSON(t, col.addr, &shown, "policy", "show", "--version", "1")
	if b, _ := os.ReadFile(strict); shown.YAML != string(b) {
		t.Errorf("policy show --version 1:\n%s\nwant the applied file", shown.YAML)
	}
}
