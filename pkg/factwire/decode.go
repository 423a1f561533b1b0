package factwire

import (
	"bytes"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// Unmarshal decodes a fact: by hand if it is a plain file fact, else with
// proto.Unmarshal.
func Unmarshal(b []byte) (*plumbv1.Fact, error) {
	if f, ok := DecodeFile(b); ok {
		return f, nil
	}
	f := &plumbv1.Fact{}
	if err := proto.Unmarshal(b, f); err != nil {
		return nil, err
	}
	return f, nil
}

// DecodeFile decodes a file fact by hand, in a fifth of proto.Unmarshal's
// time. It knows plumb.v1.Fact's scalar fields and FileAttrs' fields but
// content; given anything else (another kind of attrs, a diff, an unknown
// or repeated message field, a wire type it does not expect) it returns
// false, and the caller falls back to proto.Unmarshal.
// TestDecodeFileMatchesProto and FuzzDecodeFile hold the two equal.
//
// The fact, its attributes and its bytes fields take two allocations: the
// messages share one block, and the bytes fields are slices (capped) of
// one copy of b.
func DecodeFile(b []byte) (*plumbv1.Fact, bool) {
	blk := &fileBlock{}
	f := &blk.fact
	var a *plumbv1.FileAttrs
	b = bytes.Clone(b)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
		switch {
		case typ == protowire.VarintType && (num == factKindField || num == factObservedField):
			x, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, false
			}
			b = b[n:]
			if num == factKindField {
				f.Kind = plumbv1.FactKind(int32(x))
			} else {
				f.ObservedUnixNano = int64(x)
			}
		case typ == protowire.BytesType && (num == factKeyField || num == factDigestField || num == factFileField):
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, false
			}
			b = b[n:]
			switch num {
			case factKeyField:
				f.Key = capped(v)
			case factDigestField:
				f.Digest = capped(v)
			default:
				if a != nil {
					return nil, false // proto merges a repeated message: leave that to it
				}
				a = &blk.attrs
				if !decodeFileAttrs(v, a) {
					return nil, false
				}
			}
		default:
			return nil, false
		}
	}
	if a == nil {
		return nil, false
	}
	blk.file.File = a
	f.Attrs = &blk.file
	return f, true
}

// fileBlock holds a decoded file fact's messages in one allocation.
type fileBlock struct {
	fact  plumbv1.Fact
	file  plumbv1.Fact_File
	attrs plumbv1.FileAttrs
}

// capped returns v with no room to append into what follows it, or nil
// for an empty field, as proto decodes one.
func capped(v []byte) []byte {
	if len(v) == 0 {
		return nil
	}
	return v[:len(v):len(v)]
}

// Field numbers of plumb.v1.Fact and plumb.v1.FileAttrs.
const (
	factKindField     = 1
	factKeyField      = 2
	factDigestField   = 3
	factFileField     = 10
	factObservedField = 20

	fileTypeField   = 1
	fileModeField   = 2
	fileUIDField    = 3
	fileGIDField    = 4
	fileSizeField   = 5
	fileSHA256Field = 6
	fileLinkField   = 7
	fileMtimeField  = 20
	fileCtimeField  = 21
	fileInodeField  = 22
	fileDeviceField = 23
)

func decodeFileAttrs(b []byte, a *plumbv1.FileAttrs) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		switch typ {
		case protowire.VarintType:
			x, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return false
			}
			b = b[n:]
			switch num {
			case fileTypeField:
				a.Type = plumbv1.FileType(int32(x))
			case fileModeField:
				a.Mode = uint32(x)
			case fileUIDField:
				a.Uid = uint32(x)
			case fileGIDField:
				a.Gid = uint32(x)
			case fileSizeField:
				a.Size = int64(x)
			case fileMtimeField:
				a.MtimeUnixNano = int64(x)
			case fileCtimeField:
				a.CtimeUnixNano = int64(x)
			case fileInodeField:
				a.Inode = x
			case fileDeviceField:
				a.Device = x
			default:
				return false
			}
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return false
			}
			b = b[n:]
			switch num {
			case fileSHA256Field:
				a.Sha256 = capped(v)
			case fileLinkField:
				a.LinkTarget = capped(v)
			default:
				return false
			}
		default:
			return false
		}
	}
	return true
}
