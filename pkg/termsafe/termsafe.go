// Package termsafe owns the one escaping that text from agents and the
// collector goes through before a person's terminal shows it: host ids,
// fact keys, coverage reasons, OS strings, error messages from the
// collector. A hostile agent chooses those strings, and raw they could
// move the cursor, rewrite lines, reorder text (bidi overrides), hide
// characters (zero-width) or forge table rows and columns (tab, newline).
//
// String and Bytes escape such text so that every rune they leave raw is
// printable and the output is valid UTF-8; Parse reverses them exactly, so
// escaped text can be pasted back (plumbctl accept --key). JSON does the
// same for encoded JSON, which encoding/json leaves raw above U+001F.
package termsafe

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Escapes, each unambiguous:
//
//	\\          a backslash
//	\xNN        a byte that is an ASCII control (C0 or DEL) or is not UTF-8
//	\uNNNN      a rune that must not reach a terminal raw (C1 controls,
//	\UNNNNNNNN  format characters such as bidi overrides and zero-width
//	            joiners, line and paragraph separators, spaces other than
//	            U+0020, other default-ignorable code points)
//
// Hex digits are lower case. Everything else passes through unchanged.

// String escapes s for a terminal.
func String(s string) string {
	if Safe(s) && !strings.Contains(s, `\`) {
		return s
	}
	var sb strings.Builder
	sb.Grow(len(s) + 8)
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		writeRune(&sb, r, size, s[0])
		s = s[size:]
	}
	return sb.String()
}

// Bytes escapes b for a terminal; it is String for bytes that need not
// be text.
func Bytes(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		writeRune(&sb, r, size, b[0])
		b = b[size:]
	}
	return sb.String()
}

// writeRune writes the rune r, size bytes long and starting with byte b0,
// escaped.
func writeRune(sb *strings.Builder, r rune, size int, b0 byte) {
	switch {
	case r == utf8.RuneError && size == 1:
		fmt.Fprintf(sb, `\x%02x`, b0)
	case r == '\\':
		sb.WriteString(`\\`)
	case r < 0x20 || r == 0x7f:
		fmt.Fprintf(sb, `\x%02x`, b0)
	case r < utf8.RuneSelf || !mustEscape(r):
		sb.WriteRune(r)
	case r <= 0xffff:
		fmt.Fprintf(sb, `\u%04x`, r)
	default:
		fmt.Fprintf(sb, `\U%08x`, r)
	}
}

// mustEscape reports whether r, a rune outside ASCII, must not reach a
// terminal raw.
func mustEscape(r rune) bool {
	if r == ' ' {
		return false
	}
	return unicode.In(r,
		unicode.Cc, // C1 controls: U+009B is CSI on many terminals
		unicode.Cf, // bidi overrides and isolates, zero-width, tags, BOM
		unicode.Zl, unicode.Zp, unicode.Zs,
		unicode.Other_Default_Ignorable_Code_Point, // invisible fillers
		unicode.Variation_Selector,
	)
}

// Safe reports whether String would leave s unchanged but for doubling
// its backslashes: s is valid UTF-8 and holds no rune that String escapes.
func Safe(s string) bool {
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		if (r == utf8.RuneError && size == 1) || r < 0x20 || r == 0x7f || (r >= utf8.RuneSelf && mustEscape(r)) {
			return false
		}
		s = s[size:]
	}
	return true
}

// Parse is the inverse of String and Bytes: Parse(Bytes(b)) returns b. It
// also accepts text those never produce, such as a raw control or \u0041;
// it rejects a backslash that starts no escape above, or a \u or \U that
// names a surrogate or no rune.
func Parse(s string) ([]byte, error) {
	if !strings.Contains(s, `\`) {
		return []byte(s), nil
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		n := 0 // hex digits after the escape letter
		if i+1 < len(s) {
			switch s[i+1] {
			case '\\':
				out = append(out, '\\')
				i++
				continue
			case 'x':
				n = 2
			case 'u':
				n = 4
			case 'U':
				n = 8
			}
		}
		v, ok := hexDigits(s, i+2, n)
		switch {
		case !ok:
		case n == 2:
			out = append(out, byte(v))
			i += 1 + n
			continue
		case utf8.ValidRune(rune(v)):
			out = utf8.AppendRune(out, rune(v))
			i += 1 + n
			continue
		}
		return nil, fmt.Errorf(`bad escape at offset %d in %q: want \\, \xNN, \uNNNN or \UNNNNNNNN`, i, s)
	}
	return out, nil
}

// hexDigits parses the n > 0 hex digits of s at i.
func hexDigits(s string, i, n int) (uint32, bool) {
	if n == 0 || i+n > len(s) {
		return 0, false
	}
	var v uint32
	for _, c := range []byte(s[i : i+n]) {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		v = v<<4 | uint32(d)
	}
	return v, true
}

// JSON rewrites encoded JSON so that a terminal can show it: every DEL and
// every rune String would escape becomes a \uNNNN escape (a surrogate pair
// above U+FFFF), which decodes to the same string. encoding/json already
// escapes the C0 controls in strings; JSON leaves the whitespace between
// tokens alone. Bytes that are not UTF-8, which encoding/json never
// writes, become \ufffd.
func JSON(b []byte) []byte {
	clean := true
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if jsonEscape(r, size) {
			clean = false
			break
		}
		i += size
	}
	if clean {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case !jsonEscape(r, size):
			out = append(out, b[:size]...)
		case size == 1 && r == utf8.RuneError:
			out = append(out, `\ufffd`...)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
		default:
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		b = b[size:]
	}
	return out
}

func jsonEscape(r rune, size int) bool {
	return r == 0x7f || (r == utf8.RuneError && size == 1) || (r >= utf8.RuneSelf && mustEscape(r))
}
