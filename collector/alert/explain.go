package alert

import (
	"bytes"
	"path"
	"regexp"
	"slices"
	"strings"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// HostExplanation sorts one host's items of a group into the package
// changes that account for them and the rest, which on-call must look at.
type HostExplanation struct {
	Host string
	// Packages are the host's package items in the group, each with the
	// file items its new version accounts for.
	Packages []*PackageIncident
	// Unexplained are the host's other items: file drift no package
	// change accounts for (its content differs from what the package
	// records, or no package in the group ships it), and drift of every
	// other kind.
	Unexplained []*GroupItem
}

// PackageIncident is a package item of a group and the file drift it
// explains.
type PackageIncident struct {
	Item *GroupItem
	// Change is the agent's check of the new version's files: the last one
	// among the item's events in the group, nil if none carried one (a
	// resync, an agent too old, a removal).
	Change *plumbv1.PackageChange
	// Files are the file and conffile items whose content on disk matched
	// the package's digest for the new version, or a package manager's
	// temporary file beside one of its files that was gone again by the
	// end of the window.
	Files []*GroupItem
}

// Explain sorts the group's items by host (sorted) into package
// incidents and unexplained items. It is what turns a package upgrade's
// hundred file changes into one line on-call can trust: "nginx 1.24.0 →
// 1.25.1: 37 files, all match the package".
func (g *Group) Explain() []*HostExplanation {
	byHost := map[string]*HostExplanation{}
	var hosts []string
	host := func(id string) *HostExplanation {
		h, ok := byHost[id]
		if !ok {
			h = &HostExplanation{Host: id}
			byHost[id] = h
			hosts = append(hosts, id)
		}
		return h
	}
	items := g.Items()
	// Package changes first, so that a file item explained by a package
	// whose event came after it in the log is found.
	matched := map[string]map[string]matchedFile{} // host -> path -> what the package accounts for
	for _, gi := range items {
		it := gi.Item()
		if it.GetKind() != plumbv1.FactKind_FACT_KIND_PACKAGE {
			continue
		}
		pi := &PackageIncident{Item: gi, Change: lastChange(g.Events, it.GetId())}
		h := host(it.GetHostId())
		h.Packages = append(h.Packages, pi)
		if pi.Change == nil {
			continue
		}
		if matched[h.Host] == nil {
			matched[h.Host] = map[string]matchedFile{}
		}
		sums := pi.Change.GetMatchedSha256()
		if len(sums) != len(pi.Change.GetMatched()) {
			sums = nil // an older agent: the path alone
		}
		for i, p := range pi.Change.GetMatched() {
			mf := matchedFile{pi: pi}
			if sums != nil {
				mf.sha256 = sums[i]
			}
			matched[h.Host][string(p)] = mf
		}
	}
	for _, gi := range items {
		it := gi.Item()
		if it.GetKind() == plumbv1.FactKind_FACT_KIND_PACKAGE {
			continue
		}
		h := host(it.GetHostId())
		if pi := explainedBy(gi, matched[h.Host]); pi != nil {
			pi.Files = append(pi.Files, gi)
			continue
		}
		h.Unexplained = append(h.Unexplained, gi)
	}
	slices.Sort(hosts)
	out := make([]*HostExplanation, 0, len(hosts))
	for _, id := range hosts {
		out = append(out, byHost[id])
	}
	return out
}

// lastChange returns the last PackageChange among item's events.
func lastChange(events []*plumbv1.DriftEvent, item string) *plumbv1.PackageChange {
	var pc *plumbv1.PackageChange
	for _, ev := range events {
		if ev.GetItem().GetId() == item && ev.GetPackageChange() != nil {
			pc = ev.GetPackageChange()
		}
	}
	return pc
}

// matchedFile is a file whose content on disk matched its package's
// record when the agent checked it.
type matchedFile struct {
	pi     *PackageIncident
	sha256 []byte // of the content that matched; nil from an older agent
}

// explainedBy returns the package incident that accounts for the file
// item gi, or nil.
func explainedBy(gi *GroupItem, matched map[string]matchedFile) *PackageIncident {
	it := gi.Item()
	if len(matched) == 0 {
		return nil
	}
	switch it.GetKind() {
	case plumbv1.FactKind_FACT_KIND_FILE, plumbv1.FactKind_FACT_KIND_CONFFILE:
	default:
		return nil
	}
	p := string(it.GetKey())
	if mf, ok := matched[p]; ok {
		cur := it.GetCurrent().GetFile()
		switch {
		case gi.Closed():
			return mf.pi // back to its baseline by the end of the window
		case it.GetChange() == plumbv1.DriftChange_DRIFT_CHANGE_REMOVED:
			return nil // removed after the agent checked it
		case mf.sha256 != nil && !bytes.Equal(cur.GetSha256(), mf.sha256):
			// Its content now is not what matched the package: changed
			// again after the check, by someone else.
			return nil
		}
		return mf.pi
	}
	// dpkg and rpm write each file beside its final name first. Such a
	// file is the package manager's only if it is gone again by the end of
	// the window; one left behind is a phantom on-call should see.
	if base, ok := tempBase(p); ok && gi.Closed() {
		if mf, ok := matched[base]; ok {
			return mf.pi
		}
	}
	// A directory the package's files live in: dpkg creates and
	// re-stamps them.
	if cur := it.GetCurrent().GetFile(); cur != nil && cur.GetType() == plumbv1.FileType_FILE_TYPE_DIRECTORY {
		prefix := strings.TrimSuffix(p, "/") + "/"
		for q, mf := range matched {
			if strings.HasPrefix(q, prefix) {
				return mf.pi
			}
		}
	}
	return nil
}

// rpmTemp is rpm's temporary name beside a file: "<path>;<8 hex digits>".
var rpmTemp = regexp.MustCompile(`;[0-9a-f]{8}$`)

// tempBase returns the file a package manager's temporary path stands
// in for.
func tempBase(p string) (string, bool) {
	for _, suffix := range []string{".dpkg-new", ".dpkg-tmp", ".dpkg-old", ".dpkg-dist", ".rpmnew", ".rpmsave"} {
		if base, ok := strings.CutSuffix(p, suffix); ok && path.Base(base) != "" {
			return base, true
		}
	}
	if loc := rpmTemp.FindStringIndex(p); loc != nil {
		return p[:loc[0]], true
	}
	return "", false
}
