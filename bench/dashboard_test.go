package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
	"github.com/plumb-dev/plumb/pkg/pki"
)

// BenchmarkDashboardFleet: the dashboard with 1,000 hosts × 100 open drift
// items. The fleet is written into a store (hosts, their facts and
// baselines, their drift items, a seeded mix of severities and a few
// health items) before a real collector opens it with --http-listen;
// Debian's chromium then loads the overview and one host's page
// (e2e/browser/fleetload.mjs). It prints the time from navigation until
// every host row is on the page, the size of the first responses (the
// page and the first page of hosts), every byte the overview read, and
// the same API read by a plain HTTP client, the floor.
func BenchmarkDashboardFleet(b *testing.B) {
	const hosts, items = 1000, 100
	seed := uint64(time.Now().UnixNano())
	b.Logf("seed %d", seed)
	data := scratch(b, "dashboard")
	gen := time.Now()
	generateFleet(b, filepath.Join(data, "plumb.db"), hosts, items, seed)
	genTook := time.Since(gen)
	httpAddr := freeAddr(b)
	c := startCollector(b, data, "", "--http-listen", httpAddr)
	base := "https://" + httpAddr
	tok, err := os.ReadFile(filepath.Join(c.data, "admin.token"))
	if err != nil {
		b.Fatal(err)
	}
	token := strings.TrimSpace(string(tok))
	client, spki := httpsClient(b, c, httpAddr)

	// The floor: the overview's API reads by a plain client, page after
	// page as the page reads them.
	var apiBytes, apiCalls, firstPage, firstHosts int
	t0 := time.Now()
	next := ""
	for {
		body := getJSON(b, client, token, base+"/v1/hosts?page_size=250&page_token="+next)
		if apiCalls == 0 {
			firstPage = len(body)
		}
		apiCalls++
		apiBytes += len(body)
		var page struct {
			Hosts []json.RawMessage `json:"hosts"`
			Next  string            `json:"next_page_token"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			b.Fatal(err)
		}
		if apiCalls == 1 {
			firstHosts = len(page.Hosts)
		}
		if next = page.Next; next == "" {
			break
		}
	}
	floor := time.Since(t0)

	node, err := exec.LookPath("node")
	if err != nil {
		b.Fatalf("the dashboard benchmark needs node (scripts/ci-deps.sh): %v", err)
	}
	dir, err := filepath.Abs(filepath.Join("..", "e2e", "browser"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	artifacts := os.Getenv("PLUMB_ARTIFACTS")
	if artifacts == "" {
		artifacts = filepath.Join(dir, "..", "artifacts")
	}
	artifacts = filepath.Join(artifacts, "dashboard-load")
	chromium := os.Getenv("PLUMB_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	cmd := exec.Command(node, filepath.Join(dir, "fleetload.mjs"))
	cmd.Env = append(os.Environ(), "PLUMB_URL="+base+"/", "PLUMB_SPKI="+spki, "PLUMB_TOKEN="+token,
		"PLUMB_HOSTS="+strconv.Itoa(hosts), "PLUMB_HOST="+hostName(7), "PLUMB_ITEMS="+strconv.Itoa(items),
		"PLUMB_RUNS=3", "PLUMB_CHROMIUM="+chromium, "PLUMB_ARTIFACTS="+artifacts)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("fleetload.mjs: %v\n%s", err, out)
	}
	var res struct {
		Overview []struct {
			FirstRowMs, AllRowsMs, Rows, Bytes, Doc, FirstAPI, FirstAPIDecoded, APICalls int
		}
		Host []struct{ AllItemsMs int }
	}
	line := out[bytes.LastIndex(out, []byte("RESULT "))+len("RESULT "):]
	if err := json.Unmarshal(bytes.TrimSpace(line), &res); err != nil {
		b.Fatalf("fleetload.mjs said: %s", out)
	}
	t := newTable(fmt.Sprintf("dashboard: %d hosts × %d open drift items (store written in %s)", hosts, items, secs(genTook)),
		"run", "overview: first rows", "all rows", "rows", "bytes read", "host page: 100 items")
	for i, o := range res.Overview {
		if o.Rows != hosts {
			b.Errorf("run %d: %d rows on the page, want %d", i, o.Rows, hosts)
		}
		t.row(strconv.Itoa(i+1), fmt.Sprintf("%d ms", o.FirstRowMs), fmt.Sprintf("%d ms", o.AllRowsMs), strconv.Itoa(o.Rows),
			fmt.Sprintf("%.1f KiB", float64(o.Bytes)/1024), fmt.Sprintf("%d ms", res.Host[i].AllItemsMs))
	}
	o := res.Overview[len(res.Overview)-1]
	t.note("times from navigation start; the first response is the page itself, %d bytes; the first API response (page_size=250: %d hosts) %.1f KiB",
		o.Doc, firstHosts, float64(o.FirstAPI)/1024)
	t.note("the overview reads the fleet in %d calls; a plain HTTP client reads the same %d calls (%.1f KiB) in %s (floor); first page %.1f KiB",
		o.APICalls, apiCalls, float64(apiBytes)/1024, millis(floor), float64(firstPage)/1024)
	t.note("screenshots in %s", artifacts)
	t.print()
}

func hostName(i int) string { return fmt.Sprintf("host-%04d", i) }

// generateFleet writes hosts, each with `items` facts, their baselines
// (all different), and an open drift item for each, into a new store.
func generateFleet(b *testing.B, path string, hosts, items int, seed uint64) {
	b.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	st, err := store.Open(path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	roles, envs := []string{"web", "db", "cache", "batch"}, []string{"prod", "staging"}
	file := func(path string, content []byte, observed time.Time) *plumbv1.Fact {
		sum := sha256.Sum256(content)
		return fact.Seal(&plumbv1.Fact{
			Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte(path), ObservedUnixNano: observed.UnixNano(),
			Attrs: &plumbv1.Fact_File{File: &plumbv1.FileAttrs{
				Type: plumbv1.FileType_FILE_TYPE_REGULAR, Mode: 0o644, Size: int64(len(content)), Sha256: sum[:],
				MtimeUnixNano: observed.UnixNano(), Inode: rng.Uint64N(1 << 20),
			}},
		})
	}
	for h := range hosts {
		id := hostName(h)
		err := st.Update(context.Background(), func(tx store.Tx) error {
			var digest fact.SetDigest
			health := h%50 == 0
			for i := range items {
				p := fmt.Sprintf("/etc/app/conf.d/%03d-service.conf", i)
				detected := now.Add(-time.Duration(rng.IntN(7*24*3600)) * time.Second)
				base := file(p, fmt.Appendf(nil, "option = %d\n", i), detected.Add(-time.Hour))
				cur := file(p, fmt.Appendf(nil, "option = %d\nchanged = %d\n", i, rng.Uint64()), detected)
				if rng.IntN(10) == 0 {
					cur.GetFile().Content = &plumbv1.ContentChange{
						State:       plumbv1.ContentState_CONTENT_STATE_DIFF,
						UnifiedDiff: fmt.Sprintf("--- a%s\n+++ b%s\n@@ -1 +1,2 @@\n option = %d\n+changed = 1\n", p, p, i),
					}
				}
				if err := tx.PutBaseline(id, base); err != nil {
					return err
				}
				if err := tx.PutFact(id, cur); err != nil {
					return err
				}
				digest.Add(fact.KeyOf(cur), cur.GetDigest())
				sev := plumbv1.Severity_SEVERITY_INFO
				switch r := rng.IntN(100); {
				case r < 5:
					sev = plumbv1.Severity_SEVERITY_CRITICAL
				case r < 30:
					sev = plumbv1.Severity_SEVERITY_WARNING
				}
				it := &plumbv1.DriftItem{
					Id: hex.EncodeToString(fmt.Appendf(nil, "%08d%08d", h, i)), HostId: id,
					Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte(p),
					Change: plumbv1.DriftChange_DRIFT_CHANGE_MODIFIED, Status: plumbv1.DriftStatus_DRIFT_STATUS_OPEN,
					Baseline: base, Current: cur, Severity: sev,
					ObservedUnixNano: detected.UnixNano(), DetectedUnixNano: detected.UnixNano(), UpdatedUnixNano: detected.UnixNano(),
				}
				if health && i == items-1 {
					// One host in 50 has a health item in place of its last.
					it.Kind, it.Key, it.Baseline, it.Change = plumbv1.FactKind_FACT_KIND_HEALTH, []byte("reporting"), nil, plumbv1.DriftChange_DRIFT_CHANGE_ADDED
					it.Severity = plumbv1.Severity_SEVERITY_WARNING
					it.Current = fact.Seal(&plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_HEALTH, Key: []byte("reporting"),
						Attrs: &plumbv1.Fact_Value{Value: &plumbv1.ValueAttrs{Value: "no report for 2h"}}})
				}
				if err := tx.PutDrift(it); err != nil {
					return err
				}
			}
			return tx.PutHost(&store.Host{
				ID: id, Labels: map[string]string{"role": roles[h%len(roles)], "env": envs[h%len(envs)], "dc": string(rune('a' + h%3))},
				Info:       &plumbv1.HostInfo{Hostname: id + ".example.internal", Os: "linux", KernelVersion: "6.1.0-18-amd64", AgentVersion: "dev"},
				AppliedSeq: uint64(2 * items), FactCount: uint64(items), Digest: digest, HasBaseline: true, OpenDrift: uint64(items),
				LastSeen: now.Add(-time.Duration(rng.IntN(3600)) * time.Second).UnixNano(),
			})
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// httpsClient trusts the collector's CA and returns the base64 SHA-256 of
// the key of the certificate its HTTP listener serves, for chromium.
func httpsClient(b *testing.B, c *collector, addr string) (*http.Client, string) {
	b.Helper()
	ca, err := pki.ReadCertFile(filepath.Join(c.data, "ca.crt"))
	if err != nil {
		b.Fatal(err)
	}
	cfg := pki.ClientTLS(pki.TrustCA(ca, ""))
	cfg.NextProtos = []string{"http/1.1"}
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].RawSubjectPublicKeyInfo)
	conn.Close()
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: time.Minute}, base64.StdEncoding.EncodeToString(sum[:])
}

func getJSON(b *testing.B, client *http.Client, token, url string) []byte {
	b.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %d %v %s", url, resp.StatusCode, err, body)
	}
	return body
}
