package sourcetest

import (
	"strings"
	"testing"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/pkg/fact"
)

func conf(path, manager string) *plumbv1.Fact {
	return fact.Seal(&plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_CONFFILE, Key: []byte(path),
		Attrs: &plumbv1.Fact_Conffile{Conffile: &plumbv1.ConffileAttrs{Manager: manager}}})
}

func TestSinkKeepsStateLikeTheAgent(t *testing.T) {
	s := NewSink()
	s.Seed(conf("/etc/old", "dpkg"), conf("/etc/rpm.conf", "rpm"))
	scope := source.Scope{Kind: plumbv1.FactKind_FACT_KIND_CONFFILE, Manager: "dpkg"}
	s.Begin(scope)
	s.Upsert(conf("/etc/new", "dpkg"))
	s.End(scope)
	s.Ready()
	s.Delete(fact.KeyOf(conf("/etc/new", "dpkg")))

	got := s.ByKind(plumbv1.FactKind_FACT_KIND_CONFFILE)
	if len(got) != 1 || got["/etc/rpm.conf"] == nil {
		t.Errorf("facts after snapshot and delete: %v; want only the rpm conffile", got)
	}
	want := "begin conffile/dpkg,upsert conffile:/etc/new,end conffile/dpkg,ready,delete conffile:/etc/new"
	if log := strings.Join(s.LogSince(0), ","); log != want {
		t.Errorf("log %s\nwant %s", log, want)
	}
	if !s.IsReady() || s.ReadyAt().IsZero() {
		t.Error("not ready after Ready")
	}
	if _, ok := s.LastCondition(); ok {
		t.Error("a condition without any reported")
	}
	s.Coverage(source.Condition{State: plumbv1.CoverageState_COVERAGE_STATE_BLIND, Reason: "unreadable"})
	if c, ok := s.LastCondition(); !ok || c.Reason != "unreadable" || len(s.Conditions()) != 1 {
		t.Errorf("LastCondition = %v, %v; Conditions %v", c, ok, s.Conditions())
	}
}

func TestSinkRefusesUnsealedFacts(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Upsert of an unsealed fact did not panic")
		}
	}()
	NewSink().Upsert(&plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_SYSCTL, Key: []byte("x")})
}
