package gapset_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/agent/source/gapset"
	"github.com/plumb-dev/plumb/agent/source/sourcetest"
)

func TestOpenAndCloseOnce(t *testing.T) {
	const degraded = plumbv1.CoverageState_COVERAGE_STATE_DEGRADED
	sink := sourcetest.NewSink()
	s := gapset.New(sink)
	if s.Close("unreadable", "/a") {
		t.Error("Close of a gap never opened reported a change")
	}
	if !s.Open(degraded, "unreadable", "/a") || s.Open(degraded, "unreadable", "/a") {
		t.Error("Open: want true the first time, false the second")
	}
	s.Open(degraded, "watch_failed", "/a")
	if !s.Close("unreadable", "/a") || s.Close("unreadable", "/a") {
		t.Error("Close: want true the first time, false the second")
	}
	want := []source.Condition{
		{State: degraded, Reason: "unreadable", Detail: "/a"},
		{State: degraded, Reason: "watch_failed", Detail: "/a"},
		{State: plumbv1.CoverageState_COVERAGE_STATE_OK, Reason: "unreadable", Detail: "/a"},
	}
	if d := cmp.Diff(want, sink.Conditions()); d != "" {
		t.Errorf("conditions reported (-want +got):\n%s", d)
	}
}
