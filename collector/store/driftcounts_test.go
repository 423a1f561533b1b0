package store

import (
	"testing"

	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

func TestScanDriftItemRejectsTruncated(t *testing.T) {
	b, err := proto.Marshal(&plumbv1.DriftItem{Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte("/etc/x"), Baseline: sysctl("a", "b")})
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n < len(b); n++ {
		if _, err := scanDriftItem(b[:n]); err == nil && proto.Unmarshal(b[:n], &plumbv1.DriftItem{}) != nil {
			t.Errorf("truncated at %d: partial decode accepts what proto.Unmarshal refuses", n)
		}
	}
}
