package query

import (
	"encoding/binary"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/plumb-dev/plumb/collector/limits"
	"github.com/plumb-dev/plumb/collector/page"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// pageSize is a list request's page size (page.DefaultSize for 0); past
// page.MaxSize it is refused and counted as limit list_page_size.
func (s *Server) pageSize(asked uint32) (int, error) {
	n, err := page.Size(asked, page.DefaultSize, page.MaxSize)
	if err != nil {
		return 0, s.lm.Refuse(codes.InvalidArgument, limits.ListPageSize, "page_size %d, at most %d", asked, page.MaxSize)
	}
	return n, nil
}

// pageBytes is the byte budget of a page: page.MaxBytes, or less if the
// collector's send limit is lower.
func (s *Server) pageBytes() int {
	return min(page.MaxBytes, s.limits.MaxSendMsgBytes/2)
}

// decodeToken returns the key a request's page token resumes after (nil
// for the first page), or INVALID_ARGUMENT.
func decodeToken(list page.List, req interface{ GetPageToken() string }) ([]byte, page.Fingerprint, error) {
	fp := page.FingerprintOf(req.(proto.Message))
	key, err := page.Decode(req.GetPageToken(), list, fp)
	if err != nil {
		return nil, fp, invalid(err.Error())
	}
	return key, fp, nil
}

// A drift position's token key is the host id, length-prefixed, then the
// encoded fact key.
func encodeDriftPos(p store.DriftPos) []byte {
	b := binary.AppendUvarint(nil, uint64(len(p.Host)))
	b = append(b, p.Host...)
	return append(b, p.Key.Encode()...)
}

var errBadPos = fmt.Errorf("%w: not a position of a drift item", page.ErrToken)

func decodeDriftPos(b []byte) (*store.DriftPos, error) {
	if b == nil {
		return nil, nil
	}
	n, w := binary.Uvarint(b)
	if w <= 0 || w != len(binary.AppendUvarint(nil, n)) || n == 0 || n > limits.MaxHostIDBytes || uint64(len(b)-w) < n+1 {
		return nil, errBadPos
	}
	host := string(b[w : w+int(n)])
	k, err := decodeFactKey(b[w+int(n):])
	if err != nil {
		return nil, err
	}
	return &store.DriftPos{Host: host, Key: *k}, nil
}

// decodeFactKey is a fact key from a token: a kind and at most
// limits.MaxKeyBytes.
func decodeFactKey(b []byte) (*fact.Key, error) {
	if b == nil {
		return nil, nil
	}
	if len(b) < 2 || len(b) > 1+limits.MaxKeyBytes {
		return nil, fmt.Errorf("%w: not a position of a fact", page.ErrToken)
	}
	k, err := fact.DecodeKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: not a position of a fact", page.ErrToken)
	}
	return &k, nil
}

// invalidToken maps a token's decoding error to INVALID_ARGUMENT.
func invalidToken(err error) error {
	if errors.Is(err, page.ErrToken) {
		return invalid(err.Error())
	}
	return err
}
