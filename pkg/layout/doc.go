// Package layout has no code: its tests guard the repository's shape.
// The agent never imports the collector's packages, nor the reverse (they
// share pkg/ and proto/ only), and every package says in its doc comment
// what it owns.
package layout
