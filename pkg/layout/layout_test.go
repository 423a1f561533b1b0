package layout

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/plumb-dev/plumb/"

type pkg struct {
	ImportPath string
	Doc        string
	Deps       []string
	GoFiles    []string
}

func list(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(out)
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	return pkgs
}

func TestAgentAndCollectorDoNotImportEachOther(t *testing.T) {
	for _, p := range list(t) {
		rel := strings.TrimPrefix(p.ImportPath, module)
		side, other := "", ""
		switch {
		case strings.HasPrefix(rel, "agent/"):
			side, other = "agent", "collector/"
		case strings.HasPrefix(rel, "collector/"):
			side, other = "collector", "agent/"
		case strings.HasPrefix(rel, "pkg/"), strings.HasPrefix(rel, "proto/"):
			side, other = "shared", ""
		default:
			continue
		}
		for _, d := range p.Deps {
			dr := strings.TrimPrefix(d, module)
			if dr == d {
				continue
			}
			if side == "shared" && (strings.HasPrefix(dr, "agent/") || strings.HasPrefix(dr, "collector/")) {
				t.Errorf("%s (shared) imports %s", rel, dr)
			}
			if other != "" && strings.HasPrefix(dr, other) {
				t.Errorf("%s imports %s: the %s may only share pkg/ and proto/", rel, dr, side)
			}
		}
	}
}

func TestEveryPackageHasADoc(t *testing.T) {
	for _, p := range list(t) {
		if strings.HasPrefix(p.ImportPath, module+"proto/") || len(p.GoFiles) == 0 {
			continue // generated, or tests only
		}
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("%s has no package doc comment saying what it owns", p.ImportPath)
		}
	}
}
