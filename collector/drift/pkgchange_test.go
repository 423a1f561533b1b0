package drift

import (
	"testing"

	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

func pkg(key, version string) *plumbv1.Fact {
	return fact.Seal(&plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_PACKAGE, Key: []byte(key),
		Attrs: &plumbv1.Fact_Package{Package: &plumbv1.PackageAttrs{Version: version, Manager: "dpkg"}}})
}

func withChange(f *plumbv1.Fact, oldV string) *plumbv1.Delta {
	d := upsert(f)
	d.PackageChange = &plumbv1.PackageChange{Package: string(f.GetKey()), OldVersion: oldV,
		NewVersion: f.GetPackage().GetVersion(), Manager: "dpkg", Files: 1, Matched: [][]byte{[]byte("/usr/bin/app")}}
	return d
}

// The agent's check of an upgrade goes on the event of the package item
// the upgrade moves, whichever transition that is, and is stored with it.
func TestPackageChangeGoesOnThePackageEvent(t *testing.T) {
	r := newRig(t)
	r.apply(upsert(pkg("app:all", "1")), upsert(file("/etc/app.conf", "a", 1)), checkpoint())

	for _, tt := range []struct {
		d    *plumbv1.Delta
		want plumbv1.DriftEventType
	}{
		{withChange(pkg("app:all", "2"), "1"), plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED},
		{withChange(pkg("app:all", "3"), "2"), plumbv1.DriftEventType_DRIFT_EVENT_TYPE_UPDATED},
		{withChange(pkg("app:all", "1"), "3"), plumbv1.DriftEventType_DRIFT_EVENT_TYPE_RESOLVED},
	} {
		evs := r.apply(tt.d)
		if len(evs) != 1 || evs[0].GetType() != tt.want {
			t.Fatalf("events %v, want one %v", types(evs), tt.want)
		}
		if !proto.Equal(evs[0].GetPackageChange(), tt.d.GetPackageChange()) {
			t.Errorf("%v event carries %v, want the delta's change", tt.want, evs[0].GetPackageChange())
		}
	}
	stored := r.log()
	if len(stored) != 3 || stored[2].GetPackageChange().GetOldVersion() != "3" {
		t.Errorf("stored events %v: the resolution lacks its change", types(stored))
	}

	// No change sent, none shown; a change naming another package, or
	// sent with another kind of fact, never lands on an event.
	if evs := r.apply(upsert(pkg("app:all", "2"))); len(evs) != 1 || evs[0].GetPackageChange() != nil {
		t.Errorf("an upgrade without a check: events %v with change %v", types(evs), evs[0].GetPackageChange())
	}
	d := withChange(pkg("app:all", "4"), "2")
	d.PackageChange.Package = "other:all"
	if evs := r.apply(d); len(evs) != 1 || evs[0].GetPackageChange() != nil {
		t.Errorf("a change of another package was attached: %v", evs[0].GetPackageChange())
	}
	d = upsert(file("/etc/app.conf", "b", 2))
	d.PackageChange = &plumbv1.PackageChange{Package: "/etc/app.conf"}
	if evs := r.apply(d); len(evs) != 1 || evs[0].GetPackageChange() != nil {
		t.Errorf("a change on a file's event: %v", evs[0].GetPackageChange())
	}
}
