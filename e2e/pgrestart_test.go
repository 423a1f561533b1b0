package e2e

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// TestPostgresUnreachableAtStart: a collector whose database does not
// answer retries for --store-connect-timeout, logging each failure, then
// exits with a clear error; the DSN's password shows nowhere.
func TestPostgresUnreachableAtStart(t *testing.T) {
	ln := freeAddr(t) // nothing listens there
	dsn := "postgres://plumb:pw-secret-123@" + ln + "/plumb?sslmode=disable"
	cmd := exec.Command(bin.collector, "--insecure", "--listen", freeAddr(t), "--data", t.TempDir(),
		"--store-dsn", dsn, "--store-connect-timeout", "3s")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err == nil {
		t.Fatalf("the collector started without its database:\n%s", out)
	}
	if took < 3*time.Second {
		t.Errorf("gave up after %v, before the 3s connect timeout", took)
	}
	s := string(out)
	if strings.Count(s, "database not ready") < 2 || !strings.Contains(s, "unreachable") {
		t.Errorf("want each failure logged and a clear final error:\n%s", s)
	}
	if strings.Contains(s, "pw-secret-123") {
		t.Errorf("the password shows in the output:\n%s", s)
	}
}
