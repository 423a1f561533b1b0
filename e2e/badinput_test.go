package e2e

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runExit runs a binary to completion and returns its exit code and output.
func runExit(t *testing.T, path string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(path, args...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

func TestBinariesRejectBadInvocations(t *testing.T) {
	dir := t.TempDir()
	badYAML := filepath.Join(dir, "bad.yaml")
	writeFile(t, badYAML, "listen: 127.0.0.1:1\ncolour: blue\n")
	for _, tc := range []struct {
		name string
		bin  string
		args []string
		code int
		want string
	}{
		{"agent unknown flag", bin.agent, []string{"--bogus"}, 2, "unknown flag: --bogus"},
		{"agent not enrolled needs a pin", bin.agent, []string{"--state", filepath.Join(dir, "agent"), "--sources", "kernel"}, 2, "not enrolled: give the collector's CA pin"},
		{"agent bad pin", bin.agent, []string{"--ca-pin", "sha256:12", "--join-token", "x"}, 2, "want sha256:<64 hex digits>"},
		{"agent unknown source", bin.agent, []string{"--insecure", "--sources", "nope"}, 2, `unknown source`},
		{"agent stray argument", bin.agent, []string{"--insecure", "extra"}, 2, "unknown command"},
		{"collector unknown flag", bin.collector, []string{"--nope"}, 2, "unknown flag: --nope"},
		{"collector bad cert ttl", bin.collector, []string{"--data", dir, "--cert-ttl", "1ms"}, 2, "cert_ttl"},
		{"collector unknown config key", bin.collector, []string{"--config", badYAML, "--insecure"}, 2, "colour"},
		{"collector missing config", bin.collector, []string{"--config", filepath.Join(dir, "none.yaml")}, 2, "none.yaml"},
		{"collector bad webhook url", bin.collector, []string{"--insecure", "--webhook-url", "ftp://x"}, 2, "http or https"},
		{"plumbctl unknown flag", bin.ctl, []string{"--insecure", "hosts", "--bogus"}, 2, "unknown flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runExit(t, tc.bin, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, output:\n%s\nwant exit %d and %q", code, out, tc.code, tc.want)
			}
		})
	}
}

func TestCollectorRefusesForeignDatabase(t *testing.T) {
	data := t.TempDir()
	db := filepath.Join(data, "plumb.db")
	foreign := []byte(strings.Repeat("this is not a database\n", 500))
	if err := os.WriteFile(db, foreign, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := runExit(t, bin.collector, "--insecure", "--listen", freeAddr(t), "--data", data)
	if code == 0 || !strings.Contains(out, "not a Plumb collector database") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	got, _ := os.ReadFile(db)
	if string(got) != string(foreign) {
		t.Fatal("the foreign file was modified")
	}
}

func TestCollectorRefusesSecondInstanceOnSameData(t *testing.T) {
	keepBolt(t) // about the bbolt file in the data directory
	data := t.TempDir()
	startCollector(t, data, "")
	code, out := runExit(t, bin.collector, "--insecure", "--listen", freeAddr(t), "--data", data)
	if code == 0 || !strings.Contains(out, "locked") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
}

// A watch path that does not exist yet is reported as a coverage gap and
// watched for; once created, its files arrive, and the gap closes.
func TestAgentWatchPathAppearsLater(t *testing.T) {
	dir := t.TempDir()
	col := startCollector(t, filepath.Join(dir, "collector"), "")
	root := filepath.Join(dir, "later", "etc")
	startAgent(t, col.addr, filepath.Join(dir, "agent"), "late", root)
	waitBaseline(t, col.addr, "late")
	coverage := func() string {
		out, _, _ := ctlResult(col.addr, "-o", "json", "hosts")
		return out
	}
	waitFor(t, 10*time.Second, "missing-path coverage gap", func() bool {
		return strings.Contains(coverage(), "missing")
	})
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "app.conf"), "x")
	waitFor(t, 10*time.Second, "the late file's fact", func() bool {
		var facts []struct {
			Key string `json:"key"`
		}
		out, _, err := ctlResult(col.addr, "-o", "json", "facts", "--host", "late")
		if err != nil || json.Unmarshal([]byte(out), &facts) != nil {
			return false
		}
		for _, f := range facts {
			if f.Key == filepath.Join(root, "app.conf") {
				return true
			}
		}
		return false
	})
	waitFor(t, 10*time.Second, "coverage gap to close", func() bool {
		return !strings.Contains(coverage(), "missing")
	})
}
