package dpkg

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Package is one record of the dpkg database, reduced to what Plumb uses.
type Package struct {
	Name    string
	Arch    string
	Version string
	// Want, Flag and State are the three words of the Status field, e.g.
	// "install", "ok", "installed".
	Want, Flag, State string
	Conffiles         []Conffile
}

// Key is the package's fact key, "name:arch", as dpkg-query prints
// ${Package}:${Architecture}.
func (p Package) Key() string { return p.Name + ":" + p.Arch }

// Installed reports whether the package's files are on disk: every state
// but not-installed and config-files (see the package doc).
func (p Package) Installed() bool {
	switch p.State {
	case "", "not-installed", "config-files":
		return false
	}
	return true
}

// Conffile is one line of a package's Conffiles field.
type Conffile struct {
	Path string
	// MD5 is the recorded digest in hex, or "newconffile" before dpkg has
	// configured the package.
	MD5             string
	Obsolete        bool
	RemoveOnUpgrade bool
}

// Tracked reports whether the conffile is reported as a fact: it has a
// recorded md5 and is still part of the package (see the package doc).
func (c Conffile) Tracked() bool {
	return !c.Obsolete && !c.RemoveOnUpgrade && isMD5Hex(c.MD5)
}

func isMD5Hex(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// ParseStatus reads dpkg database records (the status file, or one journal
// file under updates/) in their deb822-like form: stanzas separated by
// blank lines, "Field: value" lines, continuation lines starting with a
// space or tab. Records without a Package field are skipped.
func ParseStatus(r io.Reader) ([]Package, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		out    []Package
		cur    stanza
		lineNo int
	)
	flush := func() error {
		if cur.empty() {
			return nil
		}
		p, err := cur.pkg()
		cur = stanza{}
		if err != nil {
			return err
		}
		if p.Name != "" {
			out = append(out, p)
		}
		return nil
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read status line %d: %w", lineNo+1, err)
		}
		if len(line) == 0 && err != nil {
			break
		}
		lineNo++
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.TrimSpace(line) == "":
			if ferr := flush(); ferr != nil {
				return nil, fmt.Errorf("record ending at line %d: %w", lineNo, ferr)
			}
		case line[0] == ' ' || line[0] == '\t':
			if cur.last == "" {
				return nil, fmt.Errorf("status line %d: continuation line outside a field", lineNo)
			}
			cur.cont(line[1:])
		default:
			name, value, ok := strings.Cut(line, ":")
			if !ok || name == "" {
				return nil, fmt.Errorf("status line %d: want \"Field: value\", got %q", lineNo, truncate(line))
			}
			cur.field(name, strings.TrimSpace(value))
		}
		if err != nil {
			break
		}
	}
	if err := flush(); err != nil {
		return nil, fmt.Errorf("record ending at line %d: %w", lineNo, err)
	}
	return out, nil
}

// stanza collects the fields of one record that Plumb reads; others are
// skipped without being stored.
type stanza struct {
	fields map[string]string
	conff  []string
	last   string // lower-case name of the field being read, "" before any
}

func (s *stanza) empty() bool { return s.last == "" }

func (s *stanza) field(name, value string) {
	s.last = strings.ToLower(name)
	switch s.last {
	case "package", "status", "architecture", "version":
		if s.fields == nil {
			s.fields = map[string]string{}
		}
		s.fields[s.last] = value
	case "conffiles":
		if value != "" {
			s.conff = append(s.conff, value)
		}
	}
}

func (s *stanza) cont(line string) {
	if s.last == "conffiles" {
		s.conff = append(s.conff, line)
	}
}

func (s *stanza) pkg() (Package, error) {
	p := Package{
		Name:    s.fields["package"],
		Arch:    s.fields["architecture"],
		Version: s.fields["version"],
	}
	if st := s.fields["status"]; st != "" {
		w := strings.Fields(st)
		if len(w) != 3 {
			return p, fmt.Errorf("package %s: status %q: want three words", p.Name, st)
		}
		p.Want, p.Flag, p.State = w[0], w[1], w[2]
	}
	for _, l := range s.conff {
		c, err := parseConffile(l)
		if err != nil {
			return p, fmt.Errorf("package %s: %w", p.Name, err)
		}
		p.Conffiles = append(p.Conffiles, c)
	}
	return p, nil
}

// parseConffile parses " /path hash [flag...]". The path may contain
// spaces, so the hash and flags are peeled off the end.
func parseConffile(line string) (Conffile, error) {
	rest := strings.TrimSpace(line)
	var c Conffile
	for {
		i := strings.LastIndexAny(rest, " \t")
		if i < 0 {
			return c, fmt.Errorf("conffile %q: want \"path hash [flags]\"", truncate(line))
		}
		word := rest[i+1:]
		switch word {
		case "obsolete":
			c.Obsolete = true
		case "remove-on-upgrade":
			c.RemoveOnUpgrade = true
		default:
			c.MD5 = word
			c.Path = strings.TrimRight(rest[:i], " \t")
			if c.Path == "" {
				return c, fmt.Errorf("conffile %q: empty path", truncate(line))
			}
			return c, nil
		}
		rest = strings.TrimRight(rest[:i], " \t")
	}
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// overlay applies journal records to the database: a record replaces the
// one with the same name and architecture, or is added.
func overlay(db []Package, journal []Package) []Package {
	idx := make(map[string]int, len(db))
	for i, p := range db {
		idx[p.Key()] = i
	}
	for _, p := range journal {
		if i, ok := idx[p.Key()]; ok {
			db[i] = p
			continue
		}
		idx[p.Key()] = len(db)
		db = append(db, p)
	}
	return db
}
