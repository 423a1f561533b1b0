package alert_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/alert"
)

type evSpec struct {
	host, key string
	kind      plumbv1.FactKind
	typ       plumbv1.DriftEventType
	fileType  plumbv1.FileType
	change    plumbv1.DriftChange
	severity  plumbv1.Severity
	pc        *plumbv1.PackageChange
}

func specEvents(specs []evSpec) []*plumbv1.DriftEvent {
	var out []*plumbv1.DriftEvent
	for i, s := range specs {
		it := &plumbv1.DriftItem{
			Id: s.host + "|" + s.key, HostId: s.host, Kind: s.kind, Key: []byte(s.key),
			Change: s.change, Severity: s.severity,
		}
		if it.Change == plumbv1.DriftChange_DRIFT_CHANGE_UNSPECIFIED {
			it.Change = plumbv1.DriftChange_DRIFT_CHANGE_MODIFIED
		}
		if s.kind == plumbv1.FactKind_FACT_KIND_FILE {
			ft := s.fileType
			if ft == plumbv1.FileType_FILE_TYPE_UNSPECIFIED {
				ft = plumbv1.FileType_FILE_TYPE_REGULAR
			}
			it.Current = &plumbv1.Fact{Kind: s.kind, Key: []byte(s.key), Attrs: &plumbv1.Fact_File{File: &plumbv1.FileAttrs{Type: ft}}}
		}
		if s.kind == plumbv1.FactKind_FACT_KIND_PACKAGE {
			it.Baseline = &plumbv1.Fact{Attrs: &plumbv1.Fact_Package{Package: &plumbv1.PackageAttrs{Version: "1.0"}}}
			it.Current = &plumbv1.Fact{Attrs: &plumbv1.Fact_Package{Package: &plumbv1.PackageAttrs{Version: "2.0"}}}
		}
		typ := s.typ
		if typ == plumbv1.DriftEventType_DRIFT_EVENT_TYPE_UNSPECIFIED {
			typ = plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED
		}
		out = append(out, &plumbv1.DriftEvent{
			Id: fmt.Sprint(i), Seq: uint64(i + 1), Type: typ, Item: it, PackageChange: s.pc,
			AtUnixNano: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano(),
		})
	}
	return out
}

func bs(ss ...string) [][]byte {
	var out [][]byte
	for _, s := range ss {
		out = append(out, []byte(s))
	}
	return out
}

// A package upgrade's files, its manager's temporary files that came and
// went, and its directories are explained by it, whatever their order in
// the log; a file whose content differs from the package, a temporary
// file left behind, and drift on another host or of another kind are
// not.
func TestExplainSortsAnUpgrade(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	const file, pkg = plumbv1.FactKind_FACT_KIND_FILE, plumbv1.FactKind_FACT_KIND_PACKAGE
	opened, resolved := plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED, plumbv1.DriftEventType_DRIFT_EVENT_TYPE_RESOLVED
	var matched []string
	var specs []evSpec
	for i := range 40 {
		p := fmt.Sprintf("/opt/app/f%02d", i)
		matched = append(matched, p)
		specs = append(specs,
			evSpec{host: "h1", key: p + ".dpkg-new", kind: file, typ: opened, change: plumbv1.DriftChange_DRIFT_CHANGE_ADDED},
			evSpec{host: "h1", key: p + ".dpkg-new", kind: file, typ: resolved},
			evSpec{host: "h1", key: p, kind: file, typ: opened})
	}
	specs = append(specs,
		evSpec{host: "h1", key: "/opt/app", kind: file, typ: opened, fileType: plumbv1.FileType_FILE_TYPE_DIRECTORY},
		evSpec{host: "h1", key: "/opt/app/edited", kind: file, typ: opened},                                                       // differs from the package
		evSpec{host: "h1", key: "/opt/app/f00.dpkg-new.x", kind: file, typ: opened},                                               // not a temp name
		evSpec{host: "h1", key: "/opt/app/f01.dpkg-tmp", kind: file, typ: opened, change: plumbv1.DriftChange_DRIFT_CHANGE_ADDED}, // left behind
		evSpec{host: "h2", key: "/opt/app/f02", kind: file, typ: opened},                                                          // other host
		evSpec{host: "h1", key: "net.ipv4.ip_forward", kind: plumbv1.FactKind_FACT_KIND_SYSCTL, typ: opened, severity: plumbv1.Severity_SEVERITY_CRITICAL},
	)
	rng.Shuffle(len(specs), func(i, j int) { specs[i], specs[j] = specs[j], specs[i] })
	// Each temp file opens before it resolves: the first of its two
	// events in the shuffled order is the open.
	seen := map[string]bool{}
	for i := range specs {
		if strings.HasSuffix(specs[i].key, ".dpkg-new") && specs[i].typ == resolved && !seen[specs[i].key] {
			specs[i].typ, specs[i].change = opened, plumbv1.DriftChange_DRIFT_CHANGE_ADDED
			for j := i + 1; j < len(specs); j++ {
				if specs[j].key == specs[i].key && specs[j].typ == opened {
					specs[j].typ, specs[j].change = resolved, plumbv1.DriftChange_DRIFT_CHANGE_UNSPECIFIED
					break
				}
			}
		}
		seen[specs[i].key] = true
	}
	specs = slices.Insert(specs, rng.IntN(len(specs)+1), evSpec{
		host: "h1", key: "app:all", kind: pkg, typ: opened, severity: plumbv1.Severity_SEVERITY_WARNING,
		pc: &plumbv1.PackageChange{Package: "app:all", OldVersion: "1.0", NewVersion: "2.0", Files: 41,
			Matched: bs(matched...), Mismatched: bs("/opt/app/edited")},
	})
	g := &alert.Group{Key: "g", Events: specEvents(specs)}

	hs := g.Explain()
	if len(hs) != 2 || hs[0].Host != "h1" || hs[1].Host != "h2" {
		t.Fatalf("hosts %v", hs)
	}
	h1 := hs[0]
	if len(h1.Packages) != 1 {
		t.Fatalf("h1 packages: %d", len(h1.Packages))
	}
	var explained []string
	for _, gi := range h1.Packages[0].Files {
		explained = append(explained, string(gi.Item().GetKey()))
	}
	slices.Sort(explained)
	var want []string
	for _, p := range matched {
		want = append(want, p, p+".dpkg-new")
	}
	want = append(want, "/opt/app")
	slices.Sort(want)
	if !slices.Equal(explained, want) {
		t.Errorf("explained\n%v\nwant\n%v", explained, want)
	}
	var unexplained []string
	for _, gi := range h1.Unexplained {
		unexplained = append(unexplained, string(gi.Item().GetKey()))
	}
	slices.Sort(unexplained)
	wantU := []string{"/opt/app/edited", "/opt/app/f00.dpkg-new.x", "/opt/app/f01.dpkg-tmp", "net.ipv4.ip_forward"}
	if !slices.Equal(unexplained, wantU) {
		t.Errorf("unexplained %v, want %v", unexplained, wantU)
	}
	if len(hs[1].Unexplained) != 1 || len(hs[1].Packages) != 0 {
		t.Errorf("h2: %d unexplained, %d packages", len(hs[1].Unexplained), len(hs[1].Packages))
	}

	s := g.Summarize()
	if s.Counts.Flapped != 40 || s.Severity != "critical" || s.UnexplainedTotal != 5 {
		t.Errorf("summary counts %+v severity %s unexplained %d", s.Counts, s.Severity, s.UnexplainedTotal)
	}
	if !strings.Contains(s.Title, "app:all 1.0 → 2.0: 41 files, 1 differ from the package") || !strings.Contains(s.Title, "5 unexplained changes") {
		t.Errorf("title %q", s.Title)
	}
}

// An upgrade whose every file matches is told as such, at the package's
// severity: the file drift it explains does not raise it.
func TestSummaryOfACleanUpgrade(t *testing.T) {
	const file = plumbv1.FactKind_FACT_KIND_FILE
	specs := []evSpec{
		{host: "h", key: "/etc/ssh/sshd_config", kind: file, severity: plumbv1.Severity_SEVERITY_CRITICAL},
		{host: "h", key: "openssh-server:amd64", kind: plumbv1.FactKind_FACT_KIND_PACKAGE, severity: plumbv1.Severity_SEVERITY_WARNING,
			pc: &plumbv1.PackageChange{Package: "openssh-server:amd64", OldVersion: "1:9.2p1-2", NewVersion: "1:9.2p1-2+deb12u3", Files: 37, Matched: bs("/etc/ssh/sshd_config")}},
	}
	s := (&alert.Group{Key: "g", Events: specEvents(specs)}).Summarize()
	want := "h: openssh-server:amd64 1:9.2p1-2 → 1:9.2p1-2+deb12u3: 37 files, all match the package"
	if s.Title != want || s.Severity != "warning" || s.UnexplainedTotal != 0 {
		t.Fatalf("title %q severity %q unexplained %d; want %q, warning, 0", s.Title, s.Severity, s.UnexplainedTotal, want)
	}
}

// A packaged file whose content changed again after the agent checked it
// is not the package's doing: its current SHA-256 is not the one that
// matched.
func TestExplainComparesTheContentThatMatched(t *testing.T) {
	const file = plumbv1.FactKind_FACT_KIND_FILE
	sum := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	specs := []evSpec{
		{host: "h", key: "/usr/bin/a", kind: file},
		{host: "h", key: "/usr/bin/b", kind: file},
		{host: "h", key: "app:all", kind: plumbv1.FactKind_FACT_KIND_PACKAGE,
			pc: &plumbv1.PackageChange{Package: "app:all", OldVersion: "1", NewVersion: "2", Files: 2,
				Matched: bs("/usr/bin/a", "/usr/bin/b"), MatchedSha256: [][]byte{sum(1), sum(2)}}},
	}
	events := specEvents(specs)
	events[0].Item.Current.GetFile().Sha256 = sum(1)
	events[1].Item.Current.GetFile().Sha256 = sum(9) // edited after the check
	hs := (&alert.Group{Key: "g", Events: events}).Explain()
	if len(hs) != 1 || len(hs[0].Packages) != 1 || len(hs[0].Packages[0].Files) != 1 || len(hs[0].Unexplained) != 1 {
		t.Fatalf("explanation %+v", hs)
	}
	if got := string(hs[0].Unexplained[0].Item().GetKey()); got != "/usr/bin/b" {
		t.Fatalf("unexplained %s, want /usr/bin/b", got)
	}
}
