package store

import (
	"fmt"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/factwire"
)

// DecodeFact decodes a stored fact (or baseline: what) of host, as every
// backend stores it: proto's encoding, file facts decoded by hand.
func DecodeFact(host, what string, v []byte) (*plumbv1.Fact, error) {
	f, err := factwire.Unmarshal(v)
	if err != nil {
		return nil, fmt.Errorf("decode %s of host %q: %w", what, host, err)
	}
	return f, nil
}
