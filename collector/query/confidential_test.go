package query

import (
	"bytes"
	"context"
	"crypto/sha256"
	"testing"

	"google.golang.org/grpc/codes"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

func file(path, content string, mode uint32) *plumbv1.Fact {
	sum := sha256.Sum256([]byte(content))
	return fact.Seal(&plumbv1.Fact{
		Kind: plumbv1.FactKind_FACT_KIND_FILE,
		Key:  []byte(path),
		Attrs: &plumbv1.Fact_File{File: &plumbv1.FileAttrs{
			Type: plumbv1.FileType_FILE_TYPE_REGULAR, Mode: mode, Size: int64(len(content)), Sha256: sum[:],
		}},
	})
}

// TestConfidentialDigests: below admin, the digests of a file that is not
// world-readable are keyed in every answer (facts, drift, accept); an
// operator accepts what they saw by its keyed digest, and a raw digest
// from them (a guess) is refused.
func TestConfidentialDigests(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.apply("web-1", upsert(file("/etc/pin", "1234", 0o600)), upsert(file("/etc/motd", "hi", 0o644)), checkpoint())
	secret := file("/etc/pin", "4711", 0o600)
	r.apply("web-1", upsert(secret))

	viewer := r.asRole(ctx, plumbv1.Role_ROLE_VIEWER, "v")
	operator := r.asRole(ctx, plumbv1.Role_ROLE_OPERATOR, "o")
	get := func(ctx context.Context) map[string]*plumbv1.Fact {
		resp, err := r.client.ListFacts(ctx, &plumbv1.ListFactsRequest{HostId: "web-1"})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]*plumbv1.Fact{}
		for _, f := range resp.GetFacts() {
			m[string(f.GetKey())] = f
		}
		return m
	}
	admin, seen := get(ctx), get(viewer)
	if !bytes.Equal(admin["/etc/pin"].GetDigest(), secret.GetDigest()) || !bytes.Equal(admin["/etc/pin"].GetFile().GetSha256(), secret.GetFile().GetSha256()) {
		t.Fatal("admin does not see the raw digests")
	}
	if bytes.Equal(seen["/etc/pin"].GetFile().GetSha256(), secret.GetFile().GetSha256()) || len(seen["/etc/pin"].GetFile().GetSha256()) != 32 ||
		bytes.Equal(seen["/etc/pin"].GetDigest(), secret.GetDigest()) {
		t.Fatalf("viewer sees /etc/pin unkeyed: %x", seen["/etc/pin"].GetFile().GetSha256())
	}
	if !bytes.Equal(seen["/etc/motd"].GetDigest(), admin["/etc/motd"].GetDigest()) {
		t.Error("a world-readable file's digest is keyed")
	}
	drift, err := r.client.ListDrift(viewer, &plumbv1.ListDriftRequest{HostId: "web-1"})
	if err != nil || len(drift.GetItems()) != 1 {
		t.Fatal(drift, err)
	}
	it := drift.GetItems()[0]
	if bytes.Equal(it.GetCurrent().GetDigest(), secret.GetDigest()) || !bytes.Equal(it.GetCurrent().GetDigest(), seen["/etc/pin"].GetDigest()) {
		t.Error("drift shows the viewer another digest than facts do, or the raw one")
	}

	accept := func(ctx context.Context, digest []byte) error {
		_, err := r.client.AcceptDrift(ctx, &plumbv1.AcceptDriftRequest{HostId: "web-1", Kind: plumbv1.FactKind_FACT_KIND_FILE,
			Key: []byte("/etc/pin"), Reason: "rotated", Expected: &plumbv1.ExpectedValue{Digest: digest}})
		return err
	}
	wantCode(t, accept(operator, secret.GetDigest()), codes.FailedPrecondition, "")
	if err := accept(operator, it.GetCurrent().GetDigest()); err != nil {
		t.Fatalf("operator accepting the value they saw: %v", err)
	}
}
