package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDashboard: a person at the dashboard, in headless chromium, against
// a real TLS collector and a real agent. Signed in with a viewer token and
// an operator token in separate tabs, they see a file change on the agent
// appear in the live feed and on the host page (with its diff) within 2 s
// of the write; the viewer's accept is refused with a message naming the
// operator role; the operator's accept clears the item from both tabs and
// shows in the history and the feed. Screenshots of every page are kept
// (e2e/artifacts/dashboard, or $PLUMB_ARTIFACTS/dashboard).
func TestDashboard(t *testing.T) {
	t.Parallel()
	node, chromium := browserTools(t)
	artifacts := artifactDir(t, "dashboard")
	dir := t.TempDir()
	httpAddr := freeAddr(t)
	c := startCollector(t, filepath.Join(dir, "collector"), "", "--http-listen", httpAddr)
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(tree, "app.conf")
	writeFile(t, conf, "listen = 80\nworkers = 4\nlog = info\n")
	writeFile(t, filepath.Join(tree, "motd"), "welcome\n")
	cfg := filepath.Join(dir, "agent.yaml")
	writeFile(t, cfg, fmt.Sprintf("sources:\n  file:\n    content:\n      paths: [%q]\n", tree+"/**"))
	startAgentArgs(t, c.addr, filepath.Join(dir, "agent"), "web-1",
		[]string{"--config", cfg, "--label", "role=web", "--label", "env=prod"}, tree)
	waitBaseline(t, c.addr, "web-1")

	viewer := apiToken(t, c, "viewer", "vera")
	operator := apiToken(t, c, "operator", "otto")
	lines := make(chan string, 64)
	out := &lineWriter{fn: func(l string) { lines <- l }}
	cmd := exec.Command(node, filepath.Join(browserDir, "dashboard.mjs"))
	cmd.Env = append(os.Environ(),
		"PLUMB_URL=https://"+httpAddr+"/",
		"PLUMB_SPKI="+certSPKI(t, c, httpAddr),
		"PLUMB_VIEWER_TOKEN="+viewer,
		"PLUMB_OPERATOR_TOKEN="+operator,
		"PLUMB_HOST=web-1",
		"PLUMB_KEY="+conf,
		"PLUMB_CHROMIUM="+chromium,
		"PLUMB_ARTIFACTS="+artifacts,
	)
	cmd.Stdout, cmd.Stderr = out, out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var exitErr error
	go func() {
		exitErr = cmd.Wait()
		close(lines)
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})

	waitLine(t, lines, "READY", 90*time.Second, out.String)
	// The change, replaced whole by a rename so the agent never reads it
	// half-written; the clock starts at the rename.
	staged := filepath.Join(dir, "app.conf.new")
	writeFile(t, staged, "listen = 8080\nworkers = 4\nlog = debug\n")
	at := time.Now()
	if err := os.Rename(staged, conf); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(stdin, "CHANGED %d\n", at.UnixMilli())
	res := waitLine(t, lines, "RESULT ", 120*time.Second, out.String)
	var got struct {
		LiveMs, HostMs, ViewerMs, ClearMs int
		Refusal                           string
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(res, "RESULT ")), &got); err != nil {
		t.Fatalf("browser result %q: %v", res, err)
	}
	<-exited
	if exitErr != nil {
		t.Fatalf("browser script: %v\n%s", exitErr, out.String())
	}
	t.Logf("file change → live feed %d ms, → host page %d ms (operator), %d ms (viewer); accept → cleared %d ms; viewer refused: %q",
		got.LiveMs, got.HostMs, got.ViewerMs, got.ClearMs, got.Refusal)
	t.Logf("screenshots in %s", artifacts)

	// The real world agrees with the page: the collector holds the
	// change accepted by the operator's token, with the reason typed.
	var items []struct {
		Key        string `json:"key"`
		Status     string `json:"status"`
		AcceptedBy string `json:"accepted_by"`
		Reason     string `json:"reason"`
	}
	ctlJSON(t, c.addr, &items, "drift", "--host", "web-1", "--all")
	if len(items) != 1 || items[0].Key != conf || items[0].Status != "accepted" || items[0].AcceptedBy != "otto" || items[0].Reason != "planned change, ticket 42" {
		t.Errorf("drift after the page's accept: %+v, want %s accepted by otto with the reason typed", items, conf)
	}
	shots, _ := filepath.Glob(filepath.Join(artifacts, "*.png"))
	if len(shots) < 9 {
		t.Errorf("%d screenshots in %s, want 9", len(shots), artifacts)
	}
}
