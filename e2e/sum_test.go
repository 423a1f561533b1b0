package e2e

import "crypto/sha256"

func sum256(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
