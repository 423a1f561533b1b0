package e2e

import (
	"bufio"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestREADMEListsEveryMetric keeps the README's metric tables in sync with
// the code: every plumb_* metric name in the daemons' source (agent/,
// collector/, pkg/), and every plumb_* family a real collector and agent
// serve at /metrics, is in a README table row; every metric a row names
// is in the source.
func TestREADMEListsEveryMetric(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `(plumb_[a-z0-9_]+)[{`]")
	documented := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(string(readme), -1) {
		documented[m[1]] = true
	}
	name := regexp.MustCompile(`"(plumb_[a-z0-9_]+)"`)
	inSource := map[string]string{}
	for _, dir := range []string{"../agent", "../collector", "../pkg"} {
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if !strings.Contains(string(b), "prometheus") {
				return nil
			}
			for _, m := range name.FindAllStringSubmatch(string(b), -1) {
				inSource[m[1]] = path
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(inSource) < 40 {
		t.Fatalf("found %d metric names in the source; the scan is broken", len(inSource))
	}
	for n, path := range inSource {
		if !documented[n] {
			t.Errorf("metric %s (%s) is not in the README's metric tables", n, path)
		}
	}
	for n := range documented {
		if _, ok := inSource[n]; !ok {
			t.Errorf("the README lists metric %s; no code registers it", n)
		}
	}

	// What the real daemons serve.
	dir := t.TempDir()
	colMetrics, agentMetrics := freeAddr(t), freeAddr(t)
	c := startCollector(t, filepath.Join(dir, "collector"), "", "--metrics-listen", colMetrics)
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	startAgentArgs(t, c.addr, filepath.Join(dir, "agent"), "metrics-doc-1", []string{"--metrics-listen", agentMetrics}, tree)
	waitBaseline(t, c.addr, "metrics-doc-1")
	for _, addr := range []string{colMetrics, agentMetrics} {
		var families []string
		waitFor(t, 15*time.Second, "/metrics at "+addr, func() bool {
			families = scrapeFamilies(addr)
			return len(families) > 0
		})
		for _, f := range families {
			if strings.HasPrefix(f, "plumb_") && !documented[f] {
				t.Errorf("%s serves metric %s; the README does not list it", addr, f)
			}
		}
	}
}

// scrapeFamilies returns the metric families a /metrics endpoint names in
// its # TYPE lines (nil when it does not answer).
func scrapeFamilies(addr string) []string {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var out []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if f, ok := strings.CutPrefix(sc.Text(), "# TYPE "); ok {
			out = append(out, strings.Fields(f)[0])
		}
	}
	return out
}
