package factwire

import (
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// Marshal encodes a fact as proto.Marshal does: by hand if it is a plain
// file fact, else with proto.Marshal.
func Marshal(f *plumbv1.Fact) ([]byte, error) {
	a := f.GetFile()
	if a == nil {
		return proto.Marshal(f)
	}
	// Room for every field: the bytes fields and their tags and lengths,
	// and at most 11 bytes for each of nine varints, at once.
	n := len(f.GetKey()) + len(f.GetDigest()) + len(a.GetSha256()) + len(a.GetLinkTarget()) + 4*4 + 9*11 + 4
	if b, ok := AppendFile(make([]byte, 0, n), f); ok {
		return b, nil
	}
	return proto.Marshal(f)
}

// AppendFile appends the encoding of the file fact f, byte for byte what
// proto.Marshal makes of it (fields in number order, the oneof's last,
// zero values left out: TestAppendFileIsProtoMarshal). It knows the fields DecodeFile
// knows; given another kind of fact, a content change or unknown fields
// it returns b unchanged and false.
func AppendFile(b []byte, f *plumbv1.Fact) ([]byte, bool) {
	a := f.GetFile()
	if a == nil || a.GetContent() != nil ||
		len(f.ProtoReflect().GetUnknown()) > 0 || len(a.ProtoReflect().GetUnknown()) > 0 {
		return b, false
	}
	b = appendVarint(b, factKindField, uint64(int64(f.GetKind())))
	b = appendBytes(b, factKeyField, f.GetKey())
	b = appendBytes(b, factDigestField, f.GetDigest())
	b = appendVarint(b, factObservedField, uint64(f.GetObservedUnixNano()))
	b = protowire.AppendTag(b, factFileField, protowire.BytesType)
	// The attributes' length goes before them: leave one byte, enough
	// below 128, and make room if they are longer.
	at := len(b)
	b = append(b, 0)
	b = appendFileAttrs(b, a)
	n := uint64(len(b) - at - 1)
	if w := protowire.SizeVarint(n); w > 1 {
		b = append(b, make([]byte, w-1)...)
		copy(b[at+w:], b[at+1:len(b)-(w-1)])
	}
	protowire.AppendVarint(b[at:at], n)
	return b, true
}

func appendFileAttrs(b []byte, a *plumbv1.FileAttrs) []byte {
	b = appendVarint(b, fileTypeField, uint64(int64(a.GetType())))
	b = appendVarint(b, fileModeField, uint64(a.GetMode()))
	b = appendVarint(b, fileUIDField, uint64(a.GetUid()))
	b = appendVarint(b, fileGIDField, uint64(a.GetGid()))
	b = appendVarint(b, fileSizeField, uint64(a.GetSize()))
	b = appendBytes(b, fileSHA256Field, a.GetSha256())
	b = appendBytes(b, fileLinkField, a.GetLinkTarget())
	b = appendVarint(b, fileMtimeField, uint64(a.GetMtimeUnixNano()))
	b = appendVarint(b, fileCtimeField, uint64(a.GetCtimeUnixNano()))
	b = appendVarint(b, fileInodeField, a.GetInode())
	return appendVarint(b, fileDeviceField, a.GetDevice())
}

// appendVarint appends field num unless x is zero, as proto3 leaves it
// out.
func appendVarint(b []byte, num protowire.Number, x uint64) []byte {
	if x == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, x)
}

// appendBytes appends field num unless v is empty.
func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}
