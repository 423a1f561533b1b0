package factjson

import (
	"encoding/hex"
	"strings"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// FactDifference is the JSON view of one fact on which two hosts differ:
// a or b is null when only the other host has it.
type FactDifference struct {
	Kind       string   `json:"kind"`
	Key        string   `json:"key"`
	A          *Fact    `json:"a"`
	B          *Fact    `json:"b"`
	Attributes []string `json:"attributes"`
}

// FromFactDifference renders d.
func FromFactDifference(d *plumbv1.FactDifference) *FactDifference {
	attrs := d.GetAttributes()
	if attrs == nil {
		attrs = []string{}
	}
	return &FactDifference{
		Kind: fact.KindName(d.GetKind()), Key: fact.Display(d.GetKey()),
		A: FromFact(d.GetA()), B: FromFact(d.GetB()), Attributes: attrs,
	}
}

// Outlier is the JSON view of a host departing from its group's majority.
type Outlier struct {
	Host           string `json:"host"`
	Kind           string `json:"kind"`
	Key            string `json:"key"`
	Outlier        string `json:"outlier"` // differs, missing or extra
	Digest         string `json:"digest"`
	MajorityDigest string `json:"majority_digest"`
	Agree          uint32 `json:"agree"`
	Hosts          uint32 `json:"hosts"`
}

// FromOutlier renders o.
func FromOutlier(o *plumbv1.Outlier) *Outlier {
	return &Outlier{
		Host: o.GetHostId(), Kind: fact.KindName(o.GetKind()), Key: fact.Display(o.GetKey()),
		Outlier: OutlierKind(o.GetOutlier()), Digest: hex.EncodeToString(o.GetDigest()),
		MajorityDigest: hex.EncodeToString(o.GetMajorityDigest()), Agree: o.GetAgree(), Hosts: o.GetHosts(),
	}
}

// OutlierKind names k: "differs", "missing", "extra".
func OutlierKind(k plumbv1.OutlierKind) string {
	return strings.ToLower(strings.TrimPrefix(k.String(), "OUTLIER_KIND_"))
}
