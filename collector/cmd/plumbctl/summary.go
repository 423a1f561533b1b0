package main

import (
	"fmt"
	"strings"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
	"github.com/plumb-dev/plumb/pkg/factjson"
)

// summary is the one-line gist of a fact's attributes for tables:
//
//	file      regular 0644 0:0 1234B | symlink 0777 0:0 -> target
//	package   1.24.0-1 amd64
//	conffile  nginx:amd64 md5 matches | modified | missing
//	kernel, sysctl   the value
//	kmod      16384B
//
// Text from the host passes through fact.Display, so a tab or newline in
// a value cannot break the table.
func summary(f *plumbv1.Fact) string {
	switch a := f.GetAttrs().(type) {
	case *plumbv1.Fact_File:
		return fileSummary(a.File)
	case *plumbv1.Fact_Package:
		return display(strings.TrimSpace(a.Package.GetVersion() + " " + a.Package.GetArch()))
	case *plumbv1.Fact_Conffile:
		c := a.Conffile
		state := "missing"
		switch {
		case c.GetPresent() && c.GetMatches():
			state = "matches"
		case c.GetPresent():
			state = "modified"
		}
		return display(strings.Join(nonEmpty(c.GetPackage(), c.GetAlgorithm(), state), " "))
	case *plumbv1.Fact_Value:
		return display(a.Value.GetValue())
	case *plumbv1.Fact_Kmod:
		return fmt.Sprintf("%dB", a.Kmod.GetSize())
	}
	return ""
}

func fileSummary(fa *plumbv1.FileAttrs) string {
	s := fmt.Sprintf("%s %04o %d:%d", factjson.FileType(fa.GetType()), fa.GetMode(), fa.GetUid(), fa.GetGid())
	switch fa.GetType() {
	case plumbv1.FileType_FILE_TYPE_REGULAR:
		s += fmt.Sprintf(" %dB", fa.GetSize())
	case plumbv1.FileType_FILE_TYPE_SYMLINK:
		s += " -> " + fact.Display(fa.GetLinkTarget())
	}
	return s
}

func display(s string) string { return esc(s) }

func nonEmpty(ss ...string) []string {
	out := ss[:0]
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
