package storetest

import (
	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// sysctl is a sealed sysctl fact.
func sysctl(name, value string) *plumbv1.Fact {
	return fact.Seal(&plumbv1.Fact{
		Kind:  plumbv1.FactKind_FACT_KIND_SYSCTL,
		Key:   []byte(name),
		Attrs: &plumbv1.Fact_Value{Value: &plumbv1.ValueAttrs{Value: value}},
	})
}

// fileFact is a sealed regular-file fact; path may be any bytes, as a
// Linux path may.
func fileFact(path string, content string) *plumbv1.Fact {
	return fact.Seal(&plumbv1.Fact{
		Kind: plumbv1.FactKind_FACT_KIND_FILE,
		Key:  []byte(path),
		Attrs: &plumbv1.Fact_File{File: &plumbv1.FileAttrs{
			Type: plumbv1.FileType_FILE_TYPE_REGULAR, Mode: 0o644, Size: int64(len(content)),
			Sha256: []byte(content),
		}},
	})
}

// driftItem is an item of host for the sysctl key.
func driftItem(host, key string, status plumbv1.DriftStatus) *plumbv1.DriftItem {
	return &plumbv1.DriftItem{
		Id: host + "/" + key, HostId: host, Kind: plumbv1.FactKind_FACT_KIND_SYSCTL, Key: []byte(key),
		Change: plumbv1.DriftChange_DRIFT_CHANGE_MODIFIED, Status: status,
		Baseline: sysctl(key, "0"), Current: sysctl(key, "1"),
	}
}

// Short names for callback parameter types.
type (
	protoFact = *plumbv1.Fact
	protoItem = *plumbv1.DriftItem
)
