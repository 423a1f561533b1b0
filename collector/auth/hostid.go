package auth

import "fmt"

// ValidHostID checks a host id a certificate is issued for: 1 to 253
// bytes of letters, digits and . - _ : (machine ids, host names, FQDNs).
// Nothing a terminal or a log could misread.
func ValidHostID(id string) error {
	if id == "" || len(id) > 253 {
		return fmt.Errorf("host id must be 1 to 253 bytes, not %d", len(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == '_', c == ':':
		default:
			return fmt.Errorf("host id: byte %d is %q; allowed are letters, digits and the marks . - _ and colon", i, c)
		}
	}
	return nil
}
