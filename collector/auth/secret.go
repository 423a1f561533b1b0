package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

// Secret kinds: the prefix of a token says what it is for, so that a join
// token pasted as an API token fails with a clear message.
const (
	kindJoin = "pjt"
	kindAPI  = "pat"
)

// A token is "<kind>.<id>.<secret>": the id (8 random bytes, hex) finds
// its record; the secret (32 random bytes, base64url) is checked against
// the record's SHA-256.
func newSecret(kind string) (token, id string, hash []byte, err error) {
	var idb [8]byte
	var sec [32]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return "", "", nil, err
	}
	if _, err := rand.Read(sec[:]); err != nil {
		return "", "", nil, err
	}
	id = hex.EncodeToString(idb[:])
	s := base64.RawURLEncoding.EncodeToString(sec[:])
	sum := sha256.Sum256([]byte(s))
	return kind + "." + id + "." + s, id, sum[:], nil
}

var errMalformed = errors.New("malformed token")

// parseSecret splits a token of kind into its id and the hash of its
// secret.
func parseSecret(kind, token string) (id string, hash []byte, err error) {
	token = strings.TrimSpace(token)
	if len(token) > 128 {
		return "", nil, errMalformed
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", nil, errMalformed
	}
	if parts[0] != kind {
		switch parts[0] {
		case kindJoin:
			return "", nil, errors.New("this is a join token (for plumb-agent --join-token), not an API token")
		case kindAPI:
			return "", nil, errors.New("this is an API token, not a join token")
		}
		return "", nil, errMalformed
	}
	if len(parts[1]) != 16 || len(parts[2]) != 43 {
		return "", nil, errMalformed
	}
	if _, err := hex.DecodeString(parts[1]); err != nil {
		return "", nil, errMalformed
	}
	sum := sha256.Sum256([]byte(parts[2]))
	return parts[1], sum[:], nil
}

func sameHash(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
