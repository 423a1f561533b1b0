package e2e

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/collector/store/pgtest"
)

// TestPostgresRestart runs a collector on PostgreSQL with an agent, stops
// the database while files change, and starts it again: while it is down
// /readyz fails and nothing is acknowledged; once it is back the collector
// recovers by itself and its facts equal the disk, nothing lost.
func TestPostgresRestart(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.NewDatabase(t)
	const host = "pgr-1"
	dir := t.TempDir()
	httpAddr := freeAddr(t)
	c := startCollector(t, filepath.Join(dir, "collector"), "", "--store-dsn", dsn, "--http-listen", httpAddr)
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"a": "a\n"}
	writeFile(t, filepath.Join(tree, "a"), files["a"])
	startAgent(t, c.addr, filepath.Join(dir, "state"), host, tree)
	waitBaseline(t, c.addr, host)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	ready := func() int {
		resp, err := client.Get("https://" + httpAddr + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := ready(); got != http.StatusOK {
		t.Fatalf("/readyz %d before the stop, want 200", got)
	}

	pg.Stop(t)
	for i := range 20 {
		name := fmt.Sprintf("f%02d", i)
		files[name] = fmt.Sprintf("written while the database was down %d\n", i)
		writeFile(t, filepath.Join(tree, name), files[name])
	}
	files["a"] = "a changed while down\n"
	writeFile(t, filepath.Join(tree, "a"), files["a"])
	waitFor(t, 30*time.Second, "/readyz to fail with the database down", func() bool { return ready() == http.StatusServiceUnavailable })
	time.Sleep(2 * time.Second) // let the agent try to send, and fail

	pg.Restart(t)
	waitFor(t, 90*time.Second, "the collector to hold the disk's files after the restart", func() bool {
		return factsEqualDisk(c.addr, host, tree, files) == ""
	})
	if got := ready(); got != http.StatusOK {
		t.Errorf("/readyz %d after the restart, want 200", got)
	}
}
