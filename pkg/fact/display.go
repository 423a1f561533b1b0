package fact

import "github.com/plumb-dev/plumb/pkg/termsafe"

// Display returns key bytes as readable, terminal-safe text: valid UTF-8
// prints as is, except that a backslash doubles, ASCII controls and bytes
// that are not UTF-8 print as \xNN, and C1 controls, bidi overrides,
// zero-width and other invisible runes print as \uNNNN (termsafe.Bytes).
// ParseDisplay reverses it exactly, so a key shown by plumbctl or a
// webhook can be pasted back into a query.
func Display(b []byte) string { return termsafe.Bytes(b) }

// ParseDisplay is the inverse of Display.
func ParseDisplay(s string) ([]byte, error) { return termsafe.Parse(s) }
