package fact

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Display returns key bytes as readable text. Valid UTF-8 prints as is,
// except that a backslash doubles and control characters and bytes that
// are not UTF-8 print as \xNN. ParseDisplay reverses it exactly, so a key
// shown by plumbctl or a webhook can be pasted back into a query.
func Display(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&sb, `\x%02x`, b[0])
		case r == '\\':
			sb.WriteString(`\\`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&sb, `\x%02x`, b[0])
		default:
			sb.Write(b[:size])
		}
		b = b[size:]
	}
	return sb.String()
}

// ParseDisplay is the inverse of Display.
func ParseDisplay(s string) ([]byte, error) {
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
		if i+1 < len(s) && s[i+1] == '\\' {
			out = append(out, '\\')
			i++
			continue
		}
		if i+3 < len(s) && s[i+1] == 'x' {
			var v byte
			if _, err := fmt.Sscanf(s[i+2:i+4], "%02x", &v); err == nil {
				out = append(out, v)
				i += 3
				continue
			}
		}
		return nil, fmt.Errorf("bad escape at offset %d in %q: want \\\\ or \\xNN", i, s)
	}
	return out, nil
}
