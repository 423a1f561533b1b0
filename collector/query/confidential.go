package query

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"

	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/auth"
)

// Content digests of files that are not world-readable are secrets of a
// kind: the agent could read the file only thanks to its privilege, and a
// short secret (a PIN, a password file) falls to brute force from its
// plain SHA-256. Callers below admin therefore see them keyed, as
// HMAC-SHA256 under the collector's digest key: equal contents still show
// equal digests, on every host, but nothing can be tried offline.

// SetDigestKey sets the key of the keyed digests (auth.LoadOrCreateKey);
// without one, digests of such files are withheld (left empty) from
// callers below admin.
func (s *Server) SetDigestKey(key []byte) { s.digestKey = key }

// seesRawDigests reports whether the caller may see content digests of
// unreadable files as they are: admins, and calls made without the
// authenticating interceptor (in-process tests).
func seesRawDigests(ctx context.Context) bool {
	c, ok := auth.CallerFrom(ctx)
	return !ok || c.Role >= plumbv1.Role_ROLE_ADMIN
}

// confidential reports whether f's digests reveal the content of a file
// that is not world-readable.
func confidential(f *plumbv1.Fact) bool {
	a := f.GetFile()
	return a != nil && a.GetType() == plumbv1.FileType_FILE_TYPE_REGULAR && a.GetMode()&0o004 == 0
}

// keyed returns the digest as a caller below admin sees it.
func (s *Server) keyed(label string, digest []byte) []byte {
	if len(digest) == 0 || s.digestKey == nil {
		return nil
	}
	m := hmac.New(sha256.New, s.digestKey)
	m.Write([]byte(label))
	m.Write([]byte{0})
	m.Write(digest)
	return m.Sum(nil)
}

// redactFact returns f as the caller of ctx may see it: f itself, or a
// copy whose digests are keyed.
func (s *Server) redactFact(ctx context.Context, f *plumbv1.Fact) *plumbv1.Fact {
	if f == nil || !confidential(f) || seesRawDigests(ctx) {
		return f
	}
	c := proto.CloneOf(f)
	c.Digest = s.keyed("fact digest", f.GetDigest())
	c.GetFile().Sha256 = s.keyed("file sha256", f.GetFile().GetSha256())
	return c
}

func (s *Server) redactItem(ctx context.Context, it *plumbv1.DriftItem) *plumbv1.DriftItem {
	if it == nil || seesRawDigests(ctx) || (!confidential(it.GetBaseline()) && !confidential(it.GetCurrent())) {
		return it
	}
	c := proto.CloneOf(it)
	c.Baseline = s.redactFact(ctx, it.GetBaseline())
	c.Current = s.redactFact(ctx, it.GetCurrent())
	return c
}

func (s *Server) redactEvent(ctx context.Context, ev *plumbv1.DriftEvent) *plumbv1.DriftEvent {
	if ev == nil || seesRawDigests(ctx) {
		return ev
	}
	if it := s.redactItem(ctx, ev.GetItem()); it != ev.GetItem() {
		c := proto.CloneOf(ev)
		c.Item = it
		return c
	}
	return ev
}

// unredactExpected turns the digest a caller below admin saw of cur into
// cur's own, so that accepting what they looked at works.
func (s *Server) unredactExpected(ctx context.Context, cur *plumbv1.Fact, expected []byte) []byte {
	if cur == nil || !confidential(cur) || seesRawDigests(ctx) || len(expected) == 0 {
		return expected
	}
	if k := s.keyed("fact digest", cur.GetDigest()); k != nil && hmac.Equal(k, expected) {
		return cur.GetDigest()
	}
	if bytes.Equal(expected, cur.GetDigest()) {
		// A raw digest from a caller who should not have it: refuse as a
		// mismatch rather than confirm a guess.
		return nil
	}
	return expected
}
