package state

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/pkg/fact"
)

func pkgFact(key, version string) *plumbv1.Fact {
	return fact.Seal(&plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_PACKAGE, Key: []byte(key),
		Attrs: &plumbv1.Fact_Package{Package: &plumbv1.PackageAttrs{Version: version, Manager: "dpkg"}}})
}

// A package change is spooled with its package's delta, survives a
// restart while it waits for the collector, and is bounded.
func TestPackageChangeIsSpooledWithItsDelta(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	small := &plumbv1.PackageChange{Package: "app:all", OldVersion: "1", NewVersion: "2", Manager: "dpkg", Files: 2,
		Matched: [][]byte{[]byte("/usr/bin/app")}, Mismatched: [][]byte{[]byte("/etc/app.conf")}}
	big := &plumbv1.PackageChange{Package: "big:all", NewVersion: "1", Manager: "dpkg", Files: 20000}
	for i := range 20000 {
		big.Matched = append(big.Matched, fmt.Appendf(nil, "/usr/share/big/%040d", i))
	}
	mustApply(t, d, 4,
		source.Op{Upsert: pkgFact("app:all", "2"), Change: small},
		source.Op{Upsert: pkgFact("big:all", "1"), Change: big},
		// A change that names another fact is not the fact's.
		source.Op{Upsert: pkgFact("other:all", "1"), Change: small},
		source.Op{Upsert: fileFact("/etc/app.conf", "x"), Change: small},
	)
	d.Close()
	d = openDB(t, dir, Options{})
	ds, err := d.Pending(0, 10)
	if err != nil || len(ds) != 4 {
		t.Fatalf("Pending: %d deltas, %v", len(ds), err)
	}
	if got := ds[0].GetPackageChange(); !proto.Equal(got, small) {
		t.Errorf("app's delta carries %v, want %v", got, small)
	}
	b := ds[1].GetPackageChange()
	if b.GetFiles() != 20000 || !b.GetTruncated() || len(b.GetMatched()) != 0 || b.GetPackage() != "big:all" || proto.Size(b) > MaxPackageChangeBytes {
		t.Errorf("big's change: files %d truncated %v, %d matched, %d bytes; want its count, truncated, no lists",
			b.GetFiles(), b.GetTruncated(), len(b.GetMatched()), proto.Size(b))
	}
	if ds[2].GetPackageChange() != nil || ds[3].GetPackageChange() != nil {
		t.Error("a change was spooled with a fact it does not name")
	}
}
