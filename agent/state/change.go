package state

import (
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// MaxPackageChangeBytes bounds the encoded PackageChange one spooled delta
// carries. The package sources bound theirs well below this (see
// pkgfact.DefaultLimits); this keeps the spool's promise — bounded by the
// number of facts — whatever a source sends.
const MaxPackageChangeBytes = 512 << 10

// boundChange returns the package change to spool with f's upsert: nil
// unless f is the package c names; over MaxPackageChangeBytes, c without
// its path lists, marked truncated (the counts and versions stay).
func boundChange(f *plumbv1.Fact, c *plumbv1.PackageChange) *plumbv1.PackageChange {
	if c == nil || f.GetKind() != plumbv1.FactKind_FACT_KIND_PACKAGE || string(f.GetKey()) != c.GetPackage() {
		return nil
	}
	if proto.Size(c) <= MaxPackageChangeBytes {
		return c
	}
	return &plumbv1.PackageChange{
		Package: c.GetPackage(), OldVersion: c.GetOldVersion(), NewVersion: c.GetNewVersion(),
		Manager: c.GetManager(), Files: c.GetFiles(), Truncated: true,
	}
}
