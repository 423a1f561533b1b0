package state

import (
	"bytes"

	"google.golang.org/protobuf/encoding/protowire"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// decodeFileFact decodes a stored file fact by hand, in a fifth of
// proto.Unmarshal's time: an unchanged rescan looks up every file, and the
// reflective decoder was a tenth of its CPU. It knows plumb.v1.Fact's
// scalar fields and FileAttrs' fields but content; given anything else
// (another kind of attrs, a diff, an unknown or repeated message field,
// a wire type it does not expect) it returns false and decodeFact falls
// back to proto.Unmarshal. TestDecodeFileFactMatchesProto and
// FuzzDecodeFileFact hold the two equal.
func decodeFileFact(b []byte) (*plumbv1.Fact, bool) {
	f := &plumbv1.Fact{}
	var a *plumbv1.FileAttrs
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
		switch {
		case typ == protowire.VarintType && (num == 1 || num == 20):
			x, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, false
			}
			b = b[n:]
			if num == 1 {
				f.Kind = plumbv1.FactKind(int32(x))
			} else {
				f.ObservedUnixNano = int64(x)
			}
		case typ == protowire.BytesType && (num == 2 || num == 3 || num == 10):
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, false
			}
			b = b[n:]
			switch num {
			case 2:
				f.Key = bytes.Clone(v)
			case 3:
				f.Digest = bytes.Clone(v)
			default:
				if a != nil {
					return nil, false // proto merges a repeated message: leave that to it
				}
				var ok bool
				if a, ok = decodeFileAttrs(v); !ok {
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
	f.Attrs = &plumbv1.Fact_File{File: a}
	return f, true
}

// Field numbers of plumb.v1.FileAttrs.
const (
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

func decodeFileAttrs(b []byte) (*plumbv1.FileAttrs, bool) {
	a := &plumbv1.FileAttrs{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
		switch typ {
		case protowire.VarintType:
			x, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, false
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
				return nil, false
			}
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, false
			}
			b = b[n:]
			switch num {
			case fileSHA256Field:
				a.Sha256 = bytes.Clone(v)
			case fileLinkField:
				a.LinkTarget = bytes.Clone(v)
			default:
				return nil, false
			}
		default:
			return nil, false
		}
	}
	return a, true
}
