package fact

import (
	"crypto/sha256"
	"encoding/binary"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// digestVersion is the first byte of every canonical encoding. Bump it, and
// every digest changes, only with a migration that rehashes baselines.
const digestVersion = 1

// Digest returns the SHA-256 of the canonical encoding of f's configuration
// attributes: kind, key and the attributes that define configuration.
// Volatile attributes (mtime, ctime, inode, device, observation time) are
// left out, so a touch or a same-content rewrite keeps the digest, and two
// hosts built from one image get equal digests.
//
// The encoding is Plumb's own, not protobuf's, whose byte output is not
// guaranteed stable: each field is a tag byte then a length-prefixed value,
// in a fixed order, with zero values skipped.
func Digest(f *plumbv1.Fact) []byte {
	// The encoding is built in a stack buffer (unless it is long) and
	// hashed in one call: every fact a scan reports is sealed.
	var buf [512]byte
	e := encoder{b: append(buf[:0], digestVersion)}
	e.uint(1, uint64(f.GetKind()))
	e.bytes(2, f.GetKey())
	switch a := f.GetAttrs().(type) {
	case *plumbv1.Fact_File:
		e.uint(10, uint64(a.File.GetType()))
		e.uint(11, uint64(a.File.GetMode()))
		e.uint(12, uint64(a.File.GetUid()))
		e.uint(13, uint64(a.File.GetGid()))
		e.uint(14, uint64(a.File.GetSize()))
		e.bytes(15, a.File.GetSha256())
		e.bytes(16, a.File.GetLinkTarget())
	case *plumbv1.Fact_Package:
		e.bytes(20, []byte(a.Package.GetVersion()))
		e.bytes(21, []byte(a.Package.GetArch()))
		e.bytes(22, []byte(a.Package.GetManager()))
	case *plumbv1.Fact_Conffile:
		e.bytes(30, []byte(a.Conffile.GetPackage()))
		e.bytes(31, []byte(a.Conffile.GetAlgorithm()))
		e.bytes(32, a.Conffile.GetDigest())
		e.bool(33, a.Conffile.GetPresent())
		e.bool(34, a.Conffile.GetMatches())
		e.bytes(35, []byte(a.Conffile.GetManager()))
	case *plumbv1.Fact_Value:
		e.bytes(40, []byte(a.Value.GetValue()))
	case *plumbv1.Fact_Kmod:
		e.uint(50, uint64(a.Kmod.GetSize()))
	}
	sum := sha256.Sum256(e.b)
	return sum[:]
}

// Seal sets f's digest from its attributes and returns f.
func Seal(f *plumbv1.Fact) *plumbv1.Fact {
	f.Digest = Digest(f)
	return f
}

type encoder struct {
	b []byte
}

func (e *encoder) uint(tag byte, v uint64) {
	if v == 0 {
		return
	}
	e.b = binary.AppendUvarint(append(e.b, tag), v)
}

func (e *encoder) bytes(tag byte, b []byte) {
	if len(b) == 0 {
		return
	}
	e.b = append(binary.AppendUvarint(append(e.b, tag), uint64(len(b))), b...)
}

func (e *encoder) bool(tag byte, v bool) {
	if v {
		e.uint(tag, 1)
	}
}
