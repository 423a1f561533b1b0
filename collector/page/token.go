package page

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// List names the list a token belongs to, so that a token of one list is
// refused by another.
type List byte

// The lists that page. Values are part of the token format: never reuse
// one.
const (
	Hosts     List = 1
	Facts     List = 2
	Drift     List = 3
	Silences  List = 4
	APITokens List = 5
	Notifiers List = 6
	HostDiff  List = 7
	Outliers  List = 8
	// History and FactChanges are QueryService.ListHistory and
	// ListFactChanges.
	History     List = 9
	FactChanges List = 10
	// Policies is PolicyService.ListPolicyVersions.
	Policies List = 11
)

// tokenVersion is the first byte of every token. A collector refuses a
// token of another version, so a format change never misreads a token.
const tokenVersion = 1

// A token is base64url (unpadded) of
//
//	version (1 byte) | list (1) | fingerprint of the request's filters (8) | key
//
// Tokens are not secret and need no signature: a key only says where a
// list resumes, and a caller that forges one can read nothing it could not
// list from the start. They are validated strictly all the same.
const headerBytes = 1 + 1 + fingerprintBytes

const fingerprintBytes = 8

// MaxKeyBytes bounds a token's key: a drift position (a host id and a fact
// key) is the longest, about 8.5 KiB.
const MaxKeyBytes = 10 << 10

// maxTokenChars bounds the token text, checked before decoding.
var maxTokenChars = base64.RawURLEncoding.EncodedLen(headerBytes + MaxKeyBytes)

// ErrToken is a page token the list cannot resume from; its message is
// for the caller.
var ErrToken = errors.New("invalid page_token")

// Fingerprint is a digest of req's fields other than page_size and
// page_token: a token is valid only with the filters that issued it.
type Fingerprint [fingerprintBytes]byte

// FingerprintOf returns the fingerprint of req's filters.
func FingerprintOf(req proto.Message) Fingerprint {
	c := proto.Clone(req)
	m := c.ProtoReflect()
	for _, name := range []protoreflect.Name{"page_size", "page_token"} {
		if fd := m.Descriptor().Fields().ByName(name); fd != nil {
			m.Clear(fd)
		}
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	if err != nil {
		// Marshalling a message that was unmarshalled cannot fail; should
		// it, every token of the request is refused, never misread.
		b = []byte(err.Error())
	}
	sum := sha256.Sum256(append([]byte(m.Descriptor().FullName()+"\x00"), b...))
	var fp Fingerprint
	copy(fp[:], sum[:])
	return fp
}

// Encode returns the token that resumes list after key, for a request
// whose filters have fingerprint fp; "" for a nil key (no next page).
func Encode(list List, fp Fingerprint, key []byte) string {
	if key == nil {
		return ""
	}
	b := make([]byte, 0, headerBytes+len(key))
	b = append(b, tokenVersion, byte(list))
	b = append(b, fp[:]...)
	b = append(b, key...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode returns the key a token of list resumes after, for a request
// whose filters have fingerprint fp: nil for "" (the first page), an
// ErrToken naming what is wrong otherwise. The key is at most MaxKeyBytes
// and may be empty; the list decodes it further.
func Decode(tok string, list List, fp Fingerprint) ([]byte, error) {
	if tok == "" {
		return nil, nil
	}
	if len(tok) > maxTokenChars {
		return nil, fmt.Errorf("%w: longer than any this collector issues", ErrToken)
	}
	// Go's base64 skips CR and LF, even strictly: a token with one
	// decoded, yet was not the token issued.
	b, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(b) < headerBytes || strings.ContainsAny(tok, "\r\n") {
		return nil, fmt.Errorf("%w: not a token this collector issued", ErrToken)
	}
	switch {
	case b[0] != tokenVersion:
		return nil, fmt.Errorf("%w: version %d, this collector issues %d: list again from the first page", ErrToken, b[0], tokenVersion)
	case List(b[1]) != list:
		return nil, fmt.Errorf("%w: issued by another list call", ErrToken)
	case Fingerprint(b[2:headerBytes]) != fp:
		return nil, fmt.Errorf("%w: issued for other filters: keep a request's filters from its first page to its last", ErrToken)
	}
	return b[headerBytes:], nil
}
