package pkgver

import "strings"

// RPM compares two rpm versions ([epoch:]version[-release]) and returns
// -1, 0 or 1, as rpm.vercmp orders them: epochs (missing = 0), then
// versions, then releases (missing = ""), each by Segments.
func RPM(a, b string) int {
	ea, va, ra := rpmSplit(a)
	eb, vb, rb := rpmSplit(b)
	if c := Segments(ea, eb); c != 0 {
		return c
	}
	if c := Segments(va, vb); c != 0 {
		return c
	}
	return Segments(ra, rb)
}

// rpmSplit splits as rpm does: an epoch is the digits before a ':' (a
// ':' after anything else is part of the version), the release follows
// the last '-'.
func rpmSplit(v string) (epoch, version, release string) {
	v = strings.TrimSpace(v)
	epoch = "0"
	n := 0
	for n < len(v) && isDigit(v[n]) {
		n++
	}
	if n < len(v) && v[n] == ':' {
		if n > 0 {
			epoch = v[:n]
		}
		v = v[n+1:]
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		return epoch, v[:i], v[i+1:]
	}
	return epoch, v, ""
}

// Segments is rpmvercmp: it compares two version strings segment by
// segment (runs of digits by value, runs of letters by bytes, a digit run
// above a letter run), skipping other separators; '~' sorts before
// anything, even the end, and '^' after the end but before anything else.
func Segments(a, b string) int {
	if a == b {
		return 0
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for i < len(a) && !isAlnum(a[i]) && a[i] != '~' && a[i] != '^' {
			i++
		}
		for j < len(b) && !isAlnum(b[j]) && b[j] != '~' && b[j] != '^' {
			j++
		}
		ca, cb := at(a, i), at(b, j)
		if ca == '~' || cb == '~' {
			if ca != '~' {
				return 1
			}
			if cb != '~' {
				return -1
			}
			i++
			j++
			continue
		}
		if ca == '^' || cb == '^' {
			switch {
			case i >= len(a):
				return -1
			case j >= len(b):
				return 1
			case ca != '^':
				return 1
			case cb != '^':
				return -1
			}
			i++
			j++
			continue
		}
		if i >= len(a) || j >= len(b) {
			break
		}
		si, sj := i, j
		num := isDigit(a[i])
		class := isAlpha
		if num {
			class = isDigit
		}
		for i < len(a) && class(a[i]) {
			i++
		}
		for j < len(b) && class(b[j]) {
			j++
		}
		if j == sj {
			// Segments of different classes: the number is newer.
			if num {
				return 1
			}
			return -1
		}
		sa, sb := a[si:i], b[sj:j]
		if num {
			sa, sb = strings.TrimLeft(sa, "0"), strings.TrimLeft(sb, "0")
			if len(sa) != len(sb) {
				return sign(len(sa) - len(sb))
			}
		}
		if c := strings.Compare(sa, sb); c != 0 {
			return c
		}
	}
	switch {
	case i >= len(a) && j >= len(b):
		return 0
	case i < len(a):
		return 1
	}
	return -1
}

func at(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }

// Compare orders a and b by the rules of manager ("dpkg" or "rpm"; any
// other manager uses dpkg's, the stricter superset for the versions both
// accept).
func Compare(manager, a, b string) int {
	if manager == "rpm" {
		return RPM(a, b)
	}
	return Dpkg(a, b)
}
