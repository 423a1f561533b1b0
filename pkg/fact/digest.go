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
	b := append(buf[:0], digestVersion)
	b = appendUint(b, 1, uint64(f.GetKind()))
	b = appendBytes(b, 2, f.GetKey())
	switch a := f.GetAttrs().(type) {
	case *plumbv1.Fact_File:
		b = appendUint(b, 10, uint64(a.File.GetType()))
		b = appendUint(b, 11, uint64(a.File.GetMode()))
		b = appendUint(b, 12, uint64(a.File.GetUid()))
		b = appendUint(b, 13, uint64(a.File.GetGid()))
		b = appendUint(b, 14, uint64(a.File.GetSize()))
		b = appendBytes(b, 15, a.File.GetSha256())
		b = appendBytes(b, 16, a.File.GetLinkTarget())
	case *plumbv1.Fact_Package:
		b = appendBytes(b, 20, []byte(a.Package.GetVersion()))
		b = appendBytes(b, 21, []byte(a.Package.GetArch()))
		b = appendBytes(b, 22, []byte(a.Package.GetManager()))
	case *plumbv1.Fact_Conffile:
		b = appendBytes(b, 30, []byte(a.Conffile.GetPackage()))
		b = appendBytes(b, 31, []byte(a.Conffile.GetAlgorithm()))
		b = appendBytes(b, 32, a.Conffile.GetDigest())
		b = appendBool(b, 33, a.Conffile.GetPresent())
		b = appendBool(b, 34, a.Conffile.GetMatches())
		b = appendBytes(b, 35, []byte(a.Conffile.GetManager()))
	case *plumbv1.Fact_Value:
		b = appendBytes(b, 40, []byte(a.Value.GetValue()))
	case *plumbv1.Fact_Kmod:
		b = appendUint(b, 50, uint64(a.Kmod.GetSize()))
	}
	sum := sha256.Sum256(b)
	return sum[:]
}

// Seal sets f's digest from its attributes and returns f.
func Seal(f *plumbv1.Fact) *plumbv1.Fact {
	f.Digest = Digest(f)
	return f
}

// appendUint appends a field of v under tag, unless v is zero. The
// encoding is built by appends returning the slice (not through a
// pointer), so that Digest's buffer stays on its stack.
func appendUint(b []byte, tag byte, v uint64) []byte {
	if v == 0 {
		return b
	}
	return binary.AppendUvarint(append(b, tag), v)
}

func appendBytes(b []byte, tag byte, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	return append(binary.AppendUvarint(append(b, tag), uint64(len(v))), v...)
}

func appendBool(b []byte, tag byte, v bool) []byte {
	if v {
		return appendUint(b, tag, 1)
	}
	return b
}
