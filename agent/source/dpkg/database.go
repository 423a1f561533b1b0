package dpkg

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// readDatabase returns the dpkg database as dpkg-query sees it: the status
// file, then each journal file in updates/ applied in order. A missing
// status file is returned as an error satisfying errors.Is(err,
// fs.ErrNotExist).
func readDatabase(statusPath, updatesDir string) ([]Package, error) {
	db, err := parseFile(statusPath)
	if err != nil {
		return nil, err
	}
	names, err := journalFiles(updatesDir)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		j, err := parseFile(filepath.Join(updatesDir, n))
		if os.IsNotExist(err) {
			// dpkg folded the journal into status while we read; the
			// status file we hold predates it, so read again next event.
			continue
		}
		if err != nil {
			return nil, err
		}
		db = overlay(db, j)
	}
	return db, nil
}

func parseFile(path string) ([]Package, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pkgs, err := ParseStatus(f)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return pkgs, nil
}

// journalFiles lists dpkg's journal entries: files named only by digits
// (dpkg writes "tmp.i" first and renames it), in numeric order.
func journalFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read dpkg journal: %w", err)
	}
	var names []string
	for _, e := range ents {
		if isJournalName(e.Name()) && e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	sort.Slice(names, func(i, j int) bool {
		if len(names[i]) != len(names[j]) {
			return len(names[i]) < len(names[j])
		}
		return names[i] < names[j]
	})
	return names, nil
}

func isJournalName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return false
		}
	}
	return true
}
