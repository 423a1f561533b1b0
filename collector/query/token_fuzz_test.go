package query

import (
	"bytes"
	"errors"
	"testing"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/limits"
	"github.com/plumb-dev/plumb/collector/page"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// FuzzDriftPageToken: a ListDrift page token from the network never
// panics the decoder; it is refused with page.ErrToken, or it is a
// bounded position that encodes back to the same key.
func FuzzDriftPageToken(f *testing.F) {
	req := &plumbv1.ListDriftRequest{HostId: "web-1"}
	fp := page.FingerprintOf(req)
	pos := store.DriftPos{Host: "web-1", Key: fact.Key{Kind: plumbv1.FactKind_FACT_KIND_FILE, ID: "/etc/passwd"}}
	f.Add(page.Encode(page.Drift, fp, encodeDriftPos(pos)))
	f.Add(page.Encode(page.Drift, fp, []byte{5, 'a'}))
	f.Add(page.Encode(page.Drift, fp, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1}))
	f.Add(page.Encode(page.Drift, fp, []byte{0x85, 0x00, 'w', 'e', 'b', '-', '1', 1, 'x'})) // overlong length
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		r := &plumbv1.ListDriftRequest{HostId: "web-1", PageToken: tok}
		raw, _, err := decodeToken(page.Drift, r)
		if err != nil {
			return
		}
		p, err := decodeDriftPos(raw)
		if err != nil {
			if !errors.Is(err, page.ErrToken) {
				t.Fatalf("error %v is not page.ErrToken", err)
			}
			return
		}
		if p == nil {
			if raw != nil {
				t.Fatal("a key decoded to no position")
			}
			return
		}
		if len(p.Host) == 0 || len(p.Host) > limits.MaxHostIDBytes || len(p.Key.ID) == 0 || len(p.Key.ID) > limits.MaxKeyBytes {
			t.Fatalf("position out of bounds: host %d bytes, key %d bytes", len(p.Host), len(p.Key.ID))
		}
		if !bytes.Equal(encodeDriftPos(*p), raw) {
			t.Fatalf("position %+v encodes to another key", p)
		}
	})
}
