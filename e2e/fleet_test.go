package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

type outlierJSON struct {
	Host    string `json:"host"`
	Kind    string `json:"kind"`
	Key     string `json:"key"`
	Outlier string `json:"outlier"`
	Agree   int    `json:"agree"`
	Hosts   int    `json:"hosts"`
}

// TestFleetOutliersAndDiff: three real agents in group=web, each watching
// its own host root (--host-root) with the same layout, so that their keys
// (/etc/app/nginx.conf...) match across hosts; each has its own
// /etc/hostname, which the default exclusion list leaves out. Identical
// trees have no outliers; after one host's nginx.conf changes on disk,
// `plumbctl outliers --label group=web -o json` names that host and key,
// and `plumbctl diff` shows the file (and the hostnames) side by side.
func TestFleetOutliersAndDiff(t *testing.T) {
	dir := t.TempDir()
	httpAddr := freeAddr(t)
	col := startCollector(t, filepath.Join(dir, "collector"), "", "--http-listen", httpAddr)
	api := newHTTPAPI(t, col, httpAddr)
	hosts := []string{"web-a", "web-b", "web-c"}
	write := func(p, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	roots := map[string]string{}
	for _, h := range hosts {
		root := filepath.Join(dir, h, "root")
		roots[h] = root
		write(filepath.Join(root, "etc/app/nginx.conf"), "worker_processes 4;\n")
		write(filepath.Join(root, "etc/app/motd"), "welcome\n")
		write(filepath.Join(root, "etc/app/conf.d/site.conf"), "listen 80;\n")
		write(filepath.Join(root, "etc/hostname"), h+"\n")
		startAgentArgs(t, col.addr, filepath.Join(dir, h, "state"), h,
			[]string{"--host-root", root, "--label", "group=web", "--label", "env=e2e"}, "/etc")
	}
	for _, h := range hosts {
		waitBaseline(t, col.addr, h)
	}
	outliers := func() []outlierJSON {
		var got []outlierJSON
		ctlJSON(t, col.addr, &got, "outliers", "--label", "group=web")
		return got
	}
	// Identical trees, hostnames aside: nothing departs.
	if got := outliers(); len(got) != 0 {
		t.Fatalf("outliers of identical hosts: %+v", got)
	}
	// Without the default exclusions each host's /etc/hostname has no
	// majority (three values): still nothing, which shows the exclusion
	// is not what hides a real departure below.
	var all []outlierJSON
	ctlJSON(t, col.addr, &all, "outliers", "--label", "group=web", "--no-default-exclude")
	if len(all) != 0 {
		t.Fatalf("outliers with /etc/hostname compared: %+v", all)
	}

	write(filepath.Join(roots["web-c"], "etc/app/nginx.conf"), "worker_processes 64;\n")
	want := outlierJSON{Host: "web-c", Kind: "file", Key: "/etc/app/nginx.conf", Outlier: "differs", Agree: 2, Hosts: 3}
	var got []outlierJSON
	waitFor(t, 30*time.Second, "outliers to name web-c", func() bool {
		got = outliers()
		return len(got) == 1 && got[0] == want
	})

	// A host missing a file the others have, and one with an extra file.
	if err := os.Remove(filepath.Join(roots["web-a"], "etc/app/motd")); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(roots["web-b"], "etc/app/extra.conf"), "x\n")
	waitFor(t, 30*time.Second, "outliers to name web-a and web-b", func() bool {
		got = outliers()
		return slices.Equal(got, []outlierJSON{
			{Host: "web-a", Kind: "file", Key: "/etc/app/motd", Outlier: "missing", Agree: 2, Hosts: 3},
			{Host: "web-b", Kind: "file", Key: "/etc/app/extra.conf", Outlier: "extra", Agree: 2, Hosts: 3},
			want,
		})
	})
	// The same through the HTTP API.
	var viaHTTP struct {
		Outliers []struct {
			HostID  string `json:"host_id"`
			Key     string `json:"key"` // base64: bytes
			Outlier string `json:"outlier"`
		} `json:"outliers"`
		Hosts int `json:"hosts"`
	}
	api.json(t, "GET", "/v1/outliers?label_selector=group%3Dweb&page_size=1", api.admin, nil, &viaHTTP)
	if viaHTTP.Hosts != 3 || len(viaHTTP.Outliers) != 1 || viaHTTP.Outliers[0].HostID != "web-a" || viaHTTP.Outliers[0].Outlier != "OUTLIER_KIND_MISSING" {
		t.Fatalf("GET /v1/outliers: %+v", viaHTTP)
	}
	var diffHTTP struct {
		Differences []struct {
			Attributes []string `json:"attributes"`
		} `json:"differences"`
	}
	api.json(t, "GET", "/v1/hosts:diff?host_a=web-a&host_b=web-c&kind=FACT_KIND_FILE", api.admin, nil, &diffHTTP)
	// motd (only on web-c), nginx.conf, hostname.
	if len(diffHTTP.Differences) != 3 {
		t.Fatalf("GET /v1/hosts:diff: %+v", diffHTTP)
	}

	// A selector that matches no host compares nothing.
	var none []outlierJSON
	ctlJSON(t, col.addr, &none, "outliers", "--label", "group=db")
	if len(none) != 0 {
		t.Fatalf("outliers of group=db: %+v", none)
	}

	// diff: the changed file with the attributes that differ, each
	// hostname, and web-b's extra file only on web-b.
	var diff []struct {
		Kind       string          `json:"kind"`
		Key        string          `json:"key"`
		A          json.RawMessage `json:"a"`
		B          json.RawMessage `json:"b"`
		Attributes []string        `json:"attributes"`
	}
	ctlJSON(t, col.addr, &diff, "diff", "--host", "web-b", "--host", "web-c")
	var keys []string
	for _, d := range diff {
		keys = append(keys, fmt.Sprintf("%s %s a=%t b=%t %s", d.Kind, d.Key, string(d.A) != "null", string(d.B) != "null", strings.Join(d.Attributes, ",")))
	}
	wantKeys := []string{
		"file /etc/app/extra.conf a=true b=false ",
		"file /etc/app/nginx.conf a=true b=true size,sha256",
		"file /etc/hostname a=true b=true sha256",
	}
	if !slices.Equal(keys, wantKeys) {
		t.Fatalf("diff web-b web-c:\n got %q\nwant %q", keys, wantKeys)
	}
	table := ctl(t, col.addr, "diff", "--host", "web-b", "--host", "web-c", "--key", "/etc/app/**")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "web-b") || !strings.Contains(lines[0], "web-c") ||
		!strings.Contains(lines[2], "/etc/app/nginx.conf") || !strings.HasSuffix(lines[2], "size,sha256") {
		t.Fatalf("diff table:\n%s", table)
	}
}
