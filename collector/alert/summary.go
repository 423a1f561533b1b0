package alert

import (
	"fmt"
	"strings"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
	"github.com/plumb-dev/plumb/pkg/factjson"
)

// Summary is a group told for people: what every notifier type renders,
// and part of the generic webhook's JSON body. Lists are bounded; the
// counts are not.
type Summary struct {
	ID       string      `json:"id"`
	Title    string      `json:"title"`
	Severity string      `json:"severity"`
	Hosts    []HostCount `json:"hosts"`
	Counts   Counts      `json:"counts"`
	// Packages are the package changes in the group and the file drift
	// each accounts for.
	Packages []PackageSummary `json:"packages,omitempty"`
	// Unexplained lists the items no package change accounts for: what
	// on-call must look at. UnexplainedTotal counts them all.
	Unexplained      []ItemSummary `json:"unexplained,omitempty"`
	UnexplainedTotal int           `json:"unexplained_total"`
	// Silences that ended in the window, each with what it held back.
	Silences []*factjson.SilenceSummary `json:"silences,omitempty"`
}

// PackageSummary is one package change of a group.
type PackageSummary struct {
	Host       string `json:"host"`
	Package    string `json:"package"`
	ItemID     string `json:"item_id"`
	Severity   string `json:"severity"`
	Status     string `json:"status"`
	OldVersion string `json:"old_version,omitempty"`
	NewVersion string `json:"new_version,omitempty"`
	// Checked: the agent compared the new version's files on disk with the
	// package database. Without it no file drift is explained.
	Checked bool `json:"checked"`
	// Files: how many files the new version records digests for;
	// Explained: how many drifted items of the group it accounts for.
	Files     int `json:"files"`
	Explained int `json:"explained"`
	// Mismatched and Missing are the package's files whose content on disk
	// differs from the package, or that are absent (bounded).
	Mismatched      []string `json:"mismatched,omitempty"`
	Missing         []string `json:"missing,omitempty"`
	MismatchedCount int      `json:"mismatched_count"`
	MissingCount    int      `json:"missing_count"`
	// AllMatch: checked, and every file of the package matched.
	AllMatch bool `json:"all_match"`
}

// ItemSummary is one item of a group.
type ItemSummary struct {
	ItemID   string `json:"item_id"`
	Host     string `json:"host"`
	Kind     string `json:"kind"`
	Key      string `json:"key"`
	Change   string `json:"change"`
	Status   string `json:"status"`
	Severity string `json:"severity"`
	Flapped  bool   `json:"flapped,omitempty"`
	// Content says what is known of a file's content change: "diff" (Diff
	// holds it), "first", "too large", "binary", or "not kept".
	Content  string `json:"content,omitempty"`
	Diff     string `json:"diff,omitempty"`
	Redacted bool   `json:"redacted,omitempty"`
}

// Bounds of a Summary's lists.
const (
	maxSummaryItems = 200
	maxSummaryPaths = 50
)

// Summarize tells g for people.
func (g *Group) Summarize() *Summary {
	s := &Summary{ID: g.Key, Hosts: g.Hosts(), Counts: g.Counts(), Severity: factjson.Severity(g.Severity())}
	for _, h := range g.Explain() {
		for _, pi := range h.Packages {
			s.Packages = append(s.Packages, packageSummary(pi))
		}
		for _, gi := range h.Unexplained {
			s.UnexplainedTotal++
			if len(s.Unexplained) < maxSummaryItems {
				s.Unexplained = append(s.Unexplained, itemSummary(gi))
			}
		}
	}
	for _, ss := range g.Silences() {
		s.Silences = append(s.Silences, factjson.FromSilenceSummary(ss))
	}
	s.Title = s.title()
	return s
}

func packageSummary(pi *PackageIncident) PackageSummary {
	it := pi.Item.Item()
	ps := PackageSummary{
		Host:      it.GetHostId(),
		Package:   fact.Display(it.GetKey()),
		ItemID:    it.GetId(),
		Severity:  factjson.Severity(it.GetSeverity()),
		Status:    factjson.Status(it.GetStatus()),
		Explained: len(pi.Files),
	}
	ps.OldVersion = it.GetBaseline().GetPackage().GetVersion()
	ps.NewVersion = it.GetCurrent().GetPackage().GetVersion()
	if c := pi.Change; c != nil {
		ps.Checked = true
		ps.OldVersion, ps.NewVersion = termsafeOr(c.GetOldVersion(), ps.OldVersion), termsafeOr(c.GetNewVersion(), ps.NewVersion)
		ps.Files = int(c.GetFiles())
		ps.Mismatched = paths(c.GetMismatched())
		ps.Missing = paths(c.GetMissing())
		ps.MismatchedCount, ps.MissingCount = len(c.GetMismatched()), len(c.GetMissing())
		ps.AllMatch = len(c.GetMismatched()) == 0 && len(c.GetMissing()) == 0 && !c.GetTruncated()
	}
	return ps
}

func termsafeOr(s, def string) string {
	if s == "" {
		return def
	}
	return fact.Display([]byte(s))
}

func paths(ps [][]byte) []string {
	out := make([]string, 0, min(len(ps), maxSummaryPaths))
	for _, p := range ps[:min(len(ps), maxSummaryPaths)] {
		out = append(out, fact.Display(p))
	}
	return out
}

func itemSummary(gi *GroupItem) ItemSummary {
	it := gi.Item()
	is := ItemSummary{
		ItemID:   it.GetId(),
		Host:     it.GetHostId(),
		Kind:     fact.KindName(it.GetKind()),
		Key:      fact.Display(it.GetKey()),
		Change:   factjson.Change(it.GetChange()),
		Status:   factjson.Status(it.GetStatus()),
		Severity: factjson.Severity(it.GetSeverity()),
		Flapped:  gi.Flapped,
	}
	if it.GetKind() == plumbv1.FactKind_FACT_KIND_FILE && it.GetCurrent().GetFile().GetType() == plumbv1.FileType_FILE_TYPE_REGULAR {
		c := it.GetCurrent().GetFile().GetContent()
		switch c.GetState() {
		case plumbv1.ContentState_CONTENT_STATE_DIFF:
			is.Content, is.Diff, is.Redacted = "diff", c.GetUnifiedDiff(), c.GetRedacted()
		case plumbv1.ContentState_CONTENT_STATE_FIRST:
			is.Content = "first"
		case plumbv1.ContentState_CONTENT_STATE_TOO_LARGE:
			is.Content = "too large"
		case plumbv1.ContentState_CONTENT_STATE_BINARY:
			is.Content = "binary"
		default:
			is.Content = "not kept"
		}
	}
	return is
}

// title is the summary in one line.
func (s *Summary) title() string {
	t := s.driftTitle()
	for i, ss := range s.Silences {
		if i == 2 {
			t += fmt.Sprintf("; %d more silences ended", len(s.Silences)-i)
			break
		}
		line := fmt.Sprintf("silence %s ended: %d %s held back", ss.SilenceID, ss.Events, plural(int(min(ss.Events, 2)), "event", "events"))
		if t == "" {
			t = line
		} else {
			t += "; " + line
		}
	}
	return t
}

// driftTitle is the title of the group's drift; "" for none.
func (s *Summary) driftTitle() string {
	if s.Counts.Items == 0 {
		return ""
	}
	var where string
	switch len(s.Hosts) {
	case 0:
		where = "no host"
	case 1:
		where = s.Hosts[0].Host
	default:
		where = fmt.Sprintf("%d hosts", len(s.Hosts))
	}
	if len(s.Packages) > 0 {
		// At most two packages by name; the unexplained count always,
		// since that is what on-call must look at.
		var parts []string
		for i, p := range s.Packages {
			if i == 2 && len(s.Packages) > 3 {
				parts = append(parts, fmt.Sprintf("%d more packages", len(s.Packages)-i))
				break
			}
			parts = append(parts, p.Line())
		}
		if s.UnexplainedTotal > 0 {
			parts = append(parts, fmt.Sprintf("%d unexplained %s", s.UnexplainedTotal, plural(s.UnexplainedTotal, "change", "changes")))
		}
		return where + ": " + strings.Join(parts, "; ")
	}
	c := s.Counts
	var what []string
	for _, n := range []struct {
		v    int
		name string
	}{{c.Opened, "opened"}, {c.Updated, "changed again"}, {c.Resolved, "resolved"}, {c.Accepted, "accepted"}, {c.Flapped, "flapped"}} {
		if n.v > 0 {
			what = append(what, fmt.Sprintf("%d %s", n.v, n.name))
		}
	}
	if c.Items == 1 && len(s.Unexplained) == 1 {
		u := s.Unexplained[0]
		return fmt.Sprintf("%s: %s %s %s (%s)", where, u.Kind, u.Key, u.Change, strings.Join(what, ", "))
	}
	return fmt.Sprintf("%s: %d drift %s (%s)", where, c.Items, plural(c.Items, "item", "items"), strings.Join(what, ", "))
}

// Line tells the package change in a few words: "nginx:amd64 1.24.0 →
// 1.25.1: 37 files, all match the package".
func (p PackageSummary) Line() string {
	head := p.Package
	switch {
	case p.OldVersion != "" && p.NewVersion != "":
		head += " " + p.OldVersion + " → " + p.NewVersion
	case p.NewVersion != "":
		head += " " + p.NewVersion + " installed"
	case p.OldVersion != "":
		head += " " + p.OldVersion + " removed"
	}
	switch {
	case !p.Checked:
		return head
	case p.AllMatch:
		return fmt.Sprintf("%s: %d files, all match the package", head, p.Files)
	default:
		return fmt.Sprintf("%s: %d files, %d differ from the package, %d missing", head, p.Files, p.MismatchedCount, p.MissingCount)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
