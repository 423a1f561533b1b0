// Package pkgfact owns the facts that package-manager sources (dpkg, rpm)
// have in common: one fact per installed package, one per configuration
// file a package ships, with the file on the host checked against the
// digest the package database recorded, the snapshot scopes that keep one
// manager's facts apart from another's, and the Reporter that sends each
// reading of a database to the sink.
package pkgfact

import (
	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// PackageScope is the snapshot scope of manager's package facts.
func PackageScope(manager string) source.Scope {
	return source.Scope{Kind: plumbv1.FactKind_FACT_KIND_PACKAGE, Manager: manager}
}

// ConffileScope is the snapshot scope of manager's conffile facts.
func ConffileScope(manager string) source.Scope {
	return source.Scope{Kind: plumbv1.FactKind_FACT_KIND_CONFFILE, Manager: manager}
}

// Package returns the sealed fact of an installed package, keyed as its
// manager keys packages.
func Package(key string, attrs *plumbv1.PackageAttrs, now int64) *plumbv1.Fact {
	return fact.Seal(&plumbv1.Fact{
		Kind:             plumbv1.FactKind_FACT_KIND_PACKAGE,
		Key:              []byte(key),
		Attrs:            &plumbv1.Fact_Package{Package: attrs},
		ObservedUnixNano: now,
	})
}
