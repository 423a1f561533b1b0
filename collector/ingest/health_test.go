package ingest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/drift"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// healthOf waits until the host's health item for condition has status
// want, and returns it.
func (r *rig) healthOf(t *testing.T, host, condition string, want plumbv1.DriftStatus) *plumbv1.DriftItem {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var it *plumbv1.DriftItem
		err := r.st.View(context.Background(), func(tx store.ReadTx) error {
			var err error
			it, err = tx.Drift(host, fact.Key{Kind: plumbv1.FactKind_FACT_KIND_HEALTH, ID: condition})
			return err
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		if it.GetStatus() == want {
			return it
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s health of %s: %v, want %v", condition, host, it, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func coverage(conds ...*plumbv1.CoverageCondition) *plumbv1.SyncRequest {
	return &plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Coverage{Coverage: &plumbv1.Coverage{Conditions: conds}}}
}

func TestCoverageHealth(t *testing.T) {
	r := newRig(t)
	st, _ := r.open(t, "cov-1")
	gap := func(reason, detail string, s plumbv1.CoverageState) *plumbv1.CoverageCondition {
		return &plumbv1.CoverageCondition{Source: "file", State: s, Reason: reason, Detail: detail}
	}
	blind, degraded := plumbv1.CoverageState_COVERAGE_STATE_BLIND, plumbv1.CoverageState_COVERAGE_STATE_DEGRADED
	if err := st.Send(coverage(gap("watch_limit", "/etc", degraded), gap("watch_limit", "/usr", degraded), gap("missing", "/srv/app", blind))); err != nil {
		t.Fatal(err)
	}
	it := r.healthOf(t, "cov-1", drift.HealthCoverage, plumbv1.DriftStatus_DRIFT_STATUS_OPEN)
	if got, want := it.GetCurrent().GetValue().GetValue(), "file watch_limit /etc and more (degraded); file missing /srv/app (blind)"; got != want {
		t.Errorf("detail %q, want %q", got, want)
	}
	if err := st.Send(coverage()); err != nil {
		t.Fatal(err)
	}
	r.healthOf(t, "cov-1", drift.HealthCoverage, plumbv1.DriftStatus_DRIFT_STATUS_RESOLVED)
}

func TestDigestHealth(t *testing.T) {
	r := newRig(t)
	st, _ := r.open(t, "dig-1")
	a := upsert(1, "/a", "1")
	var wrong, right fact.SetDigest
	wrong.Add(fact.Key{Kind: plumbv1.FactKind_FACT_KIND_FILE, ID: "/elsewhere"}, a.GetFact().GetDigest())
	right.Add(fact.KeyOf(a.GetFact()), a.GetFact().GetDigest())
	cp := checkpoint(2, &wrong)
	cp.FactCount = 7
	if err := st.Send(batch(a, cp)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil { // the ack; then the stream ends
		t.Fatal(err)
	}
	it := r.healthOf(t, "dig-1", drift.HealthDigest, plumbv1.DriftStatus_DRIFT_STATUS_OPEN)
	if d := it.GetCurrent().GetValue().GetValue(); !strings.Contains(d, "agent 7 facts, collector 1") {
		t.Errorf("detail %q", d)
	}
	st, _ = r.open(t, "dig-1")
	send(t, st, batch(checkpoint(3, &right)))
	r.healthOf(t, "dig-1", drift.HealthDigest, plumbv1.DriftStatus_DRIFT_STATUS_RESOLVED)
}

// A host that reports again resolves its "reporting" item in the
// transaction of its hello.
func TestHelloResolvesReporting(t *testing.T) {
	r := newRig(t)
	err := r.st.Update(context.Background(), func(tx store.Tx) error {
		h := &store.Host{ID: "rep-1", LastSeen: 1}
		if _, err := (&drift.Engine{}).Health(tx, h, drift.HealthReporting, true, "no report since 1970"); err != nil {
			return err
		}
		return tx.PutHost(h)
	})
	if err != nil {
		t.Fatal(err)
	}
	r.healthOf(t, "rep-1", drift.HealthReporting, plumbv1.DriftStatus_DRIFT_STATUS_OPEN)
	r.open(t, "rep-1")
	it := r.healthOf(t, "rep-1", drift.HealthReporting, plumbv1.DriftStatus_DRIFT_STATUS_RESOLVED)
	if it.GetCurrent().GetValue().GetValue() != "reporting again" {
		t.Errorf("resolved as %q", it.GetCurrent().GetValue().GetValue())
	}
}

// A host record that only the collector wrote (a health item for an
// enrolled host that never streamed) is still new at the first hello: it
// adopts the agent's acknowledged number.
func TestHelloAdoptsSeqOverCollectorOnlyRecord(t *testing.T) {
	r := newRig(t)
	err := r.st.Update(context.Background(), func(tx store.Tx) error {
		h := &store.Host{ID: "new-1"}
		if _, err := (&drift.Engine{}).Health(tx, h, drift.HealthIdentity, true, "another key"); err != nil {
			return err
		}
		return tx.PutHost(h)
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := r.client.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h := hello("new-1")
	h.GetHello().LastAckedSeq = 500
	if err := st.Send(h); err != nil {
		t.Fatal(err)
	}
	m, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if got := m.GetWelcome().GetAppliedSeq(); got != 500 {
		t.Errorf("welcome applied seq %d, want the agent's 500", got)
	}
}
