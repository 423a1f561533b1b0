package factjson

import (
	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// PackageChange is the JSON view of an agent's check of a package
// upgrade: the files the new version records digests for, as found on
// disk. Paths are shown as fact keys are (fact.Display).
type PackageChange struct {
	Package    string   `json:"package"`
	OldVersion string   `json:"old_version"`
	NewVersion string   `json:"new_version"`
	Manager    string   `json:"manager"`
	Files      uint32   `json:"files"`
	Matched    []string `json:"matched"`
	Mismatched []string `json:"mismatched"`
	Missing    []string `json:"missing"`
	Truncated  bool     `json:"truncated,omitempty"`
}

// FromPackageChange renders c; nil gives nil.
func FromPackageChange(c *plumbv1.PackageChange) *PackageChange {
	if c == nil {
		return nil
	}
	return &PackageChange{
		Package:    c.GetPackage(),
		OldVersion: c.GetOldVersion(),
		NewVersion: c.GetNewVersion(),
		Manager:    c.GetManager(),
		Files:      c.GetFiles(),
		Matched:    displayAll(c.GetMatched()),
		Mismatched: displayAll(c.GetMismatched()),
		Missing:    displayAll(c.GetMissing()),
		Truncated:  c.GetTruncated(),
	}
}

func displayAll(paths [][]byte) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = fact.Display(p)
	}
	return out
}
