package e2e

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// The dashboard's tests drive Debian's chromium with playwright-core
// (pinned in e2e/browser/package-lock.json; no browser download): CI
// installs chromium and node (scripts/ci-deps.sh), and a machine without
// them fails these tests with the reason rather than skipping them.

// browserDir holds the node scripts and their package.json.
const browserDir = "browser"

var npmOnce struct {
	sync.Mutex
	done bool
}

// browserTools returns node and chromium, and installs the locked node
// packages with npm ci when they are missing or not the locked version.
func browserTools(t *testing.T) (node, chromium string) {
	t.Helper()
	chromium = os.Getenv("PLUMB_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("the dashboard test needs Debian's chromium at %s (scripts/ci-deps.sh installs it; PLUMB_CHROMIUM names another): %v", chromium, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("the dashboard test needs node and npm (scripts/ci-deps.sh installs them): %v", err)
	}
	npmOnce.Lock()
	defer npmOnce.Unlock()
	if npmOnce.done {
		return node, chromium
	}
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	b, err := os.ReadFile(filepath.Join(browserDir, "package-lock.json"))
	if err != nil || json.Unmarshal(b, &lock) != nil {
		t.Fatalf("read %s/package-lock.json: %v", browserDir, err)
	}
	want := lock.Packages["node_modules/playwright-core"].Version
	var have struct {
		Version string `json:"version"`
	}
	b, err = os.ReadFile(filepath.Join(browserDir, "node_modules", "playwright-core", "package.json"))
	if err != nil || json.Unmarshal(b, &have) != nil || have.Version != want {
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts")
		cmd.Dir = browserDir
		cmd.Env = append(os.Environ(), "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in e2e/%s: %v\n%s", browserDir, err, out)
		}
	}
	npmOnce.done = true
	return node, chromium
}

// artifactDir is where a test's screenshots go: $PLUMB_ARTIFACTS/name,
// or e2e/artifacts/name (gitignored). It is emptied first.
func artifactDir(t *testing.T, name string) string {
	t.Helper()
	root := os.Getenv("PLUMB_ARTIFACTS")
	if root == "" {
		root = "artifacts"
	}
	dir, err := filepath.Abs(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// certSPKI is the base64 SHA-256 of the public key of the certificate
// the collector serves at addr, verified against its CA first: chromium
// is told to trust that one key (--ignore-certificate-errors-spki-list)
// rather than every certificate.
func certSPKI(t *testing.T, c *collector, addr string) string {
	t.Helper()
	cfg := collectorTLS(t, c, nil)
	cfg.NextProtos = []string{"http/1.1"}
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatalf("TLS to the collector's HTTP listener: %v", err)
	}
	defer conn.Close()
	leaf := conn.ConnectionState().PeerCertificates[0]
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// apiToken creates an API token of role named name.
func apiToken(t *testing.T, c *collector, role, name string) string {
	t.Helper()
	var tok struct {
		Token string `json:"token"`
	}
	ctlJSON(t, c.addr, &tok, "apitoken", "create", "--role", role, "--name", name)
	if tok.Token == "" {
		t.Fatalf("apitoken create --role %s: no token", role)
	}
	return tok.Token
}

// lineWriter hands each complete line written to it to fn.
type lineWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
	all bytes.Buffer
	fn  func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all.Write(p)
	w.buf.Write(p)
	for {
		i := bytes.IndexByte(w.buf.Bytes(), '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(w.buf.Next(i + 1))
		w.fn(line[:len(line)-1])
	}
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.all.String()
}

// waitLine waits for a line with prefix on ch.
func waitLine(t *testing.T, ch <-chan string, prefix string, d time.Duration, output func() string) string {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case l, ok := <-ch:
			if !ok {
				t.Fatalf("the browser script ended before %q:\n%s", prefix, output())
			}
			if len(l) >= len(prefix) && l[:len(prefix)] == prefix {
				return l
			}
			if len(l) >= 5 && l[:5] == "FAIL " {
				t.Fatalf("browser: %s\n%s", l, output())
			}
		case <-deadline:
			t.Fatalf("no %q from the browser script within %v:\n%s", prefix, d, output())
		}
	}
}
