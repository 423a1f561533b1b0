// Package pkgver orders package versions the way the package managers do:
// dpkg (Debian policy 5.6.12) and rpm (rpmvercmp over epoch, version and
// release). A plain string comparison gets 1.10 < 1.9 and 1.0~rc1 > 1.0
// wrong; these do not.
package pkgver

import "strings"

// Dpkg compares two Debian versions ([epoch:]upstream[-revision]) and
// returns -1, 0 or 1, as dpkg --compare-versions orders them. An epoch
// that is not a number counts as 0; the revision is what follows the last
// hyphen, "" when there is none (which orders as "0").
func Dpkg(a, b string) int {
	ea, ua, ra := dpkgSplit(a)
	eb, ub, rb := dpkgSplit(b)
	// dpkg reads the epoch with strtol, which takes a leading '+'.
	if c := numCompare(strings.TrimPrefix(ea, "+"), strings.TrimPrefix(eb, "+")); c != 0 {
		return c
	}
	if c := dpkgPart(ua, ub); c != 0 {
		return c
	}
	return dpkgPart(ra, rb)
}

func dpkgSplit(v string) (epoch, upstream, revision string) {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, ':'); i >= 0 {
		epoch, v = v[:i], v[i+1:]
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		return epoch, v[:i], v[i+1:]
	}
	return epoch, v, ""
}

// numCompare compares two strings of decimal digits by value, without
// overflow: leading zeros are dropped, then the longer is the larger.
// Anything that is not all digits counts as 0.
func numCompare(a, b string) int {
	a, b = digitsOrZero(a), digitsOrZero(b)
	switch {
	case len(a) != len(b):
		return sign(len(a) - len(b))
	default:
		return strings.Compare(a, b)
	}
}

func digitsOrZero(s string) string {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return ""
		}
	}
	return strings.TrimLeft(s, "0")
}

// dpkgOrder is a character's weight in the non-digit parts: '~' before
// the end of the string, the end before letters, letters before the rest.
func dpkgOrder(s string, i int) int {
	if i >= len(s) {
		return 0
	}
	c := s[i]
	switch {
	case isDigit(c):
		return 0
	case isAlpha(c):
		return int(c)
	case c == '~':
		return -1
	default:
		return int(c) + 256
	}
}

// dpkgPart compares an upstream version or a revision: alternating runs
// of non-digits (by dpkgOrder) and digits (by value).
func dpkgPart(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			if c := dpkgOrder(a, i) - dpkgOrder(b, j); c != 0 {
				return sign(c)
			}
			i++
			j++
		}
		i, j = min(i, len(a)), min(j, len(b))
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		first := 0
		for i < len(a) && isDigit(a[i]) && j < len(b) && isDigit(b[j]) {
			if first == 0 {
				first = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if first != 0 {
			return sign(first)
		}
	}
	return 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}
