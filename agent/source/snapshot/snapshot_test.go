package snapshot_test

import (
	"strings"
	"testing"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/agent/source/snapshot"
	"github.com/plumb-dev/plumb/agent/source/sourcetest"
	"github.com/plumb-dev/plumb/pkg/fact"
)

const (
	pkgKind    = plumbv1.FactKind_FACT_KIND_PACKAGE
	sysctlKind = plumbv1.FactKind_FACT_KIND_SYSCTL
)

func pkg(key, version, manager string) *plumbv1.Fact {
	return fact.Seal(&plumbv1.Fact{Kind: pkgKind, Key: []byte(key),
		Attrs: &plumbv1.Fact_Package{Package: &plumbv1.PackageAttrs{Version: version, Manager: manager}}})
}

func sysctl(key, value string) *plumbv1.Fact {
	return fact.Seal(&plumbv1.Fact{Kind: sysctlKind, Key: []byte(key),
		Attrs: &plumbv1.Fact_Value{Value: &plumbv1.ValueAttrs{Value: value}}})
}

func facts(fs ...*plumbv1.Fact) snapshot.Facts {
	out := snapshot.Facts{}
	for _, f := range fs {
		out.Add(f)
	}
	return out
}

func TestSend(t *testing.T) {
	sink := sourcetest.NewSink()
	// From an earlier run: a dpkg package now gone must go, an rpm one
	// (outside the scope) must stay.
	sink.Seed(pkg("stale:amd64", "1", "dpkg"), pkg("bash.x86_64", "5", "rpm"))
	cur := facts(pkg("zsh:amd64", "5.9", "dpkg"), pkg("bash:amd64", "5.2", "dpkg"), sysctl("vm.swappiness", "60"))

	snapshot.Send(sink, source.Scope{Kind: pkgKind, Manager: "dpkg"}, cur)

	got := strings.Join(sink.LogSince(0), ",")
	want := "begin package/dpkg,upsert package:bash:amd64,upsert package:zsh:amd64,end package/dpkg"
	if got != want {
		t.Errorf("log = %s\nwant  %s", got, want)
	}
	pkgs := sink.ByKind(pkgKind)
	if _, ok := pkgs["stale:amd64"]; ok {
		t.Error("stale dpkg package survived the snapshot")
	}
	if _, ok := pkgs["bash.x86_64"]; !ok {
		t.Error("rpm package outside the scope was deleted")
	}
	if n := len(sink.ByKind(sysctlKind)); n != 0 {
		t.Errorf("a sysctl outside the scope was sent: %d", n)
	}
}

func TestReport(t *testing.T) {
	old := facts(sysctl("a", "1"), sysctl("b", "1"), sysctl("c", "1"), pkg("p:all", "1", "dpkg"))
	cur := facts(sysctl("a", "1"), sysctl("b", "2"), sysctl("d", "1"), pkg("p:all", "2", "dpkg"))
	// Observation time is volatile: a later reading of an unchanged value
	// has the same digest and is not a change.
	same := sysctl("a", "1")
	same.ObservedUnixNano = 42
	cur.Add(fact.Seal(same))

	sink := sourcetest.NewSink()
	n := snapshot.Report(sink, old, cur)

	got := strings.Join(sink.LogSince(0), ",")
	want := "upsert package:p:all,upsert sysctl:b,upsert sysctl:d,delete sysctl:c"
	if got != want || n != 4 {
		t.Errorf("Report = %d, log %s\nwant 4, log %s", n, got, want)
	}
	if n := snapshot.Report(sink, cur, cur); n != 0 {
		t.Errorf("Report of an unchanged reading = %d, want 0", n)
	}
}
