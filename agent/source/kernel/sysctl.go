package kernel

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// sysctlName turns a path under /proc/sys ("net/ipv4/conf/eth0.100/rp_filter")
// into its dotted name ("net.ipv4.conf.eth0/100.rp_filter"), as sysctl(8)
// does: dots inside a component become slashes, slashes become dots.
func sysctlName(rel string) string {
	comps := strings.Split(rel, "/")
	for i, c := range comps {
		comps[i] = strings.ReplaceAll(c, ".", "/")
	}
	return strings.Join(comps, ".")
}

// sysctlPath is the inverse of sysctlName: the path under /proc/sys of a
// dotted name.
func sysctlPath(name string) string {
	comps := strings.Split(name, ".")
	for i, c := range comps {
		comps[i] = strings.ReplaceAll(c, "/", ".")
	}
	return strings.Join(comps, "/")
}

// normalizeValue trims v and collapses each run of whitespace to one tab
// (a run that starts with a tab and holds no newline) or one space.
func normalizeValue(v string) string {
	v = strings.TrimSpace(v)
	var b strings.Builder
	b.Grow(len(v))
	for i := 0; i < len(v); {
		c := v[i]
		if !isSpace(c) {
			b.WriteByte(c)
			i++
			continue
		}
		j := i
		nl := false
		for j < len(v) && isSpace(v[j]) {
			nl = nl || v[j] == '\n'
			j++
		}
		if c == '\t' && !nl {
			b.WriteByte('\t')
		} else {
			b.WriteByte(' ')
		}
		i = j
	}
	return b.String()
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// readSysctls reads every sysctl under procSys whose name is one of
// prefixes or under one, leaving out ignored names, into name -> value.
// Entries that cannot be read are skipped and logged at debug; a prefix
// that does not exist (IPv6 disabled, say) yields nothing.
func readSysctls(log *slog.Logger, procSys string, prefixes, ignore []string) map[string]string {
	out := map[string]string{}
	for _, prefix := range prefixes {
		top := filepath.Join(procSys, sysctlPath(prefix))
		err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if p != top || !errors.Is(err, fs.ErrNotExist) {
					log.Debug("sysctl unreadable", "path", p, "err", err)
				}
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			rel, err := filepath.Rel(procSys, p)
			if err != nil {
				return nil
			}
			name := sysctlName(filepath.ToSlash(rel))
			if _, done := out[name]; done || ignored(ignore, name) {
				return nil
			}
			if !d.Type().IsRegular() {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			if info.Mode().Perm()&0o444 == 0 {
				log.Debug("sysctl write-only", "name", name)
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				// EACCES, EPERM, EIO (an unset stable_secret), EINVAL,
				// EOPNOTSUPP, ENOENT (gone since the walk listed it).
				log.Debug("sysctl unreadable", "name", name, "err", err)
				return nil
			}
			out[name] = normalizeValue(string(b))
			return nil
		})
		if err != nil {
			log.Debug("sysctl walk stopped", "prefix", prefix, "err", err)
		}
	}
	return out
}
