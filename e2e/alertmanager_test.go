package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// startAlertmanager runs Debian's prometheus-alertmanager on loopback and
// returns its base URL. ci-deps.sh installs it; a machine without it
// fails the test rather than skip it.
func startAlertmanager(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		t.Fatalf("prometheus-alertmanager is not installed (scripts/ci-deps.sh installs it): %v", err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	writeFile(t, cfg, "route:\n  receiver: 'null'\n  group_wait: 1s\nreceivers:\n  - name: 'null'\n")
	addr := freeAddr(t)
	start(t, "alertmanager", path, "--config.file", cfg, "--storage.path", filepath.Join(dir, "data"),
		"--web.listen-address", addr, "--cluster.listen-address=")
	url := "http://" + addr
	waitFor(t, 20*time.Second, "alertmanager to be ready", func() bool {
		resp, err := http.Get(url + "/-/ready")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})
	return url
}

type amAlert struct {
	Labels map[string]string `json:"labels"`
	Status struct {
		State string `json:"state"`
	} `json:"status"`
}

// amAlerts lists the alerts Alertmanager holds as active.
func amAlerts(t *testing.T, url string) []amAlert {
	t.Helper()
	resp, err := http.Get(url + "/api/v2/alerts?active=true&silenced=false&inhibited=false")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []amAlert
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAlertmanagerReceivesDrift: a file change is an active alert in a
// real Alertmanager, with its host, kind, key and severity as labels;
// reverting the file resolves it there.
func TestAlertmanagerReceivesDrift(t *testing.T) {
	t.Parallel()
	am := startAlertmanager(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "collector.yaml")
	writeFile(t, cfg, "severity:\n  - {kind: file, key: \"**/sudoers\", severity: critical}\n"+
		"notifiers:\n  - {name: am, type: alertmanager, url: \""+am+"\", refresh_interval: 2s}\n")
	c := startCollector(t, filepath.Join(dir, "collector"), "", "--config", cfg)
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	sudoers := filepath.Join(tree, "sudoers")
	writeFile(t, sudoers, "root ALL=(ALL) ALL\n")
	startAgent(t, c.addr, filepath.Join(dir, "agent"), "am-1", tree)
	waitBaseline(t, c.addr, "am-1")

	writeFile(t, sudoers, "root ALL=(ALL) ALL\nmallory ALL=(ALL) NOPASSWD: ALL\n")
	var got amAlert
	waitFor(t, 20*time.Second, "the drift as an active Alertmanager alert", func() bool {
		for _, a := range amAlerts(t, am) {
			if a.Labels["key"] == sudoers && a.Status.State == "active" {
				got = a
				return true
			}
		}
		return false
	})
	want := map[string]string{"alertname": "PlumbDrift", "host": "am-1", "kind": "file", "severity": "critical"}
	for k, v := range want {
		if got.Labels[k] != v {
			t.Errorf("label %s = %q, want %q (labels %v)", k, got.Labels[k], v, got.Labels)
		}
	}
	// Restated while open: still active after several refresh intervals
	// (its endsAt is three intervals ahead at each restatement).
	time.Sleep(7 * time.Second)
	active := 0
	for _, a := range amAlerts(t, am) {
		if a.Labels["key"] == sudoers {
			active++
		}
	}
	if active != 1 {
		t.Fatalf("after 7s, %d active alerts for the open drift, want 1", active)
	}

	writeFile(t, sudoers, "root ALL=(ALL) ALL\n") // back to baseline
	waitFor(t, 20*time.Second, "the alert to resolve", func() bool {
		for _, a := range amAlerts(t, am) {
			if a.Labels["key"] == sudoers {
				return false
			}
		}
		return true
	})
}
