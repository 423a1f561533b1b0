package bench

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// bin holds the paths of the binaries built for this run.
var bin struct{ agent, collector, ctl string }

// workDir is the per-run temporary directory: binaries, generated trees
// (cached for every benchmark of the run) and each process's data.
var workDir string

func TestMain(m *testing.M) {
	flag.Parse()
	// Building the binaries takes a while; do it only when a benchmark
	// will actually run, so `go test ./...` stays fast here.
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		os.Exit(m.Run())
	}
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "plumb-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	workDir = dir
	if prebuilt := os.Getenv("PLUMB_BENCH_BIN"); prebuilt != "" {
		// `make bench` has just built bin/; use those.
		bin.agent = filepath.Join(prebuilt, "plumb-agent")
		bin.collector = filepath.Join(prebuilt, "plumb-collector")
		bin.ctl = filepath.Join(prebuilt, "plumbctl")
		return runAndSummarize(m)
	}
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "go env GOMOD:", err)
		return 1
	}
	modDir := filepath.Dir(strings.TrimSpace(string(gomod)))
	for _, b := range []struct {
		out *string
		pkg string
	}{
		{&bin.agent, "./agent/cmd/plumb-agent"},
		{&bin.collector, "./collector/cmd/plumb-collector"},
		{&bin.ctl, "./collector/cmd/plumbctl"},
	} {
		*b.out = filepath.Join(dir, "bin", filepath.Base(b.pkg))
		// Built as `make build` builds them: static, trimmed.
		cmd := exec.Command("go", "build", "-trimpath", "-o", *b.out, b.pkg)
		cmd.Dir = modDir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", b.pkg, err)
			return 1
		}
	}
	return runAndSummarize(m)
}

// runAndSummarize runs the benchmarks, then prints the summary of their
// figures (summary_test.go).
func runAndSummarize(m *testing.M) int {
	code := m.Run()
	printSummary()
	return code
}
