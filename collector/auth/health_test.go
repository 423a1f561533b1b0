package auth

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/drift"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
	"github.com/plumb-dev/plumb/pkg/pki"
)

// A quarantine is the host's "identity" health item: opened by a clash at
// enrollment or at a stream, updated only by another key, resolved by a
// revoke, each commit waking the notifiers.
func TestQuarantineIsHealth(t *testing.T) {
	f := newFixture(t)
	wakes := 0
	f.a.SetHealth(&drift.Engine{}, func() { wakes++ })
	es := f.a.EnrollServer()
	key, _ := pki.GenerateKey()
	if _, err := es.Enroll(context.Background(), &plumbv1.EnrollRequest{JoinToken: f.joinToken(t, 1), CsrDer: csrFor(t, "web1", key)}); err != nil {
		t.Fatal(err)
	}
	identity := func() (*plumbv1.DriftItem, *store.Host) {
		t.Helper()
		var it *plumbv1.DriftItem
		var h *store.Host
		err := f.a.st.View(context.Background(), func(tx store.ReadTx) error {
			var err error
			if it, err = tx.Drift("web1", fact.Key{Kind: plumbv1.FactKind_FACT_KIND_HEALTH, ID: drift.HealthIdentity}); err != nil {
				return err
			}
			h, err = tx.Host("web1")
			return err
		})
		if err != nil {
			t.Fatalf("identity health of web1: %v", err)
		}
		return it, h
	}

	// A clone enrolls: quarantined, and the host (which never streamed)
	// gets a record holding the open item.
	clone, _ := pki.GenerateKey()
	clonePin, _ := pki.PinOfKey(clone.Public())
	if _, err := es.Enroll(context.Background(), &plumbv1.EnrollRequest{JoinToken: f.joinToken(t, 1), CsrDer: csrFor(t, "web1", clone)}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("clone enrollment: %v", err)
	}
	it, h := identity()
	if it.GetStatus() != plumbv1.DriftStatus_DRIFT_STATUS_OPEN || it.GetSeverity() != plumbv1.Severity_SEVERITY_CRITICAL ||
		!strings.Contains(it.GetCurrent().GetValue().GetValue(), clonePin) || h.OpenDrift != 1 || wakes != 1 {
		t.Fatalf("after the clone's enrollment: item %v, host open drift %d, wakes %d", it, h.OpenDrift, wakes)
	}
	opened := it.GetId()

	// The clone retries: no new transition.
	if _, err := es.Enroll(context.Background(), &plumbv1.EnrollRequest{JoinToken: f.joinToken(t, 1), CsrDer: csrFor(t, "web1", clone)}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("clone retry: %v", err)
	}
	if _, h := identity(); h.HealthChanges != 1 || wakes != 1 {
		t.Errorf("a retry of the same key moved the item: %d changes, %d wakes", h.HealthChanges, wakes)
	}

	// A third key streams with a certificate of the CA's: the item
	// names it now.
	third, _ := pki.GenerateKey()
	cert, err := f.ca.IssueClient("web1", third.Public(), time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.a.AuthorizeStream(withPeer(cert), "web1"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("stream with a third key: %v", err)
	}
	it, _ = identity()
	if it.GetId() != opened || !strings.Contains(it.GetCurrent().GetValue().GetValue(), pki.Pin(cert)) || wakes != 2 {
		t.Errorf("after a stream clash: item %s (opened as %s) %q, wakes %d", it.GetId(), opened, it.GetCurrent().GetValue().GetValue(), wakes)
	}

	// Revoked: the quarantine is lifted.
	if _, err := f.a.AdminServer().RevokeHost(f.admin, &plumbv1.RevokeHostRequest{HostId: "web1"}); err != nil {
		t.Fatal(err)
	}
	it, h = identity()
	if it.GetStatus() != plumbv1.DriftStatus_DRIFT_STATUS_RESOLVED || !strings.Contains(it.GetCurrent().GetValue().GetValue(), "revoked by root") ||
		h.OpenDrift != 0 || wakes != 3 {
		t.Errorf("after the revoke: item %v, open drift %d, wakes %d", it, h.OpenDrift, wakes)
	}
	var n int
	err = f.a.st.View(context.Background(), func(tx store.ReadTx) error {
		evs, err := tx.EventsAfter(0, 100)
		n = len(evs)
		return err
	})
	if err != nil || n != 3 {
		t.Errorf("event log holds %d events (%v), want opened, updated, resolved", n, err)
	}
}
