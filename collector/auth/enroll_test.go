package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/pki"
)

type fixture struct {
	a     *Authority
	admin context.Context
	ca    *CA
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "plumb.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ca, created, err := LoadOrCreateCA(dir, time.Now())
	if err != nil || !created {
		t.Fatal(created, err)
	}
	again, created, err := LoadOrCreateCA(dir, time.Now())
	if err != nil || created || again.Pin != ca.Pin {
		t.Fatalf("CA loaded again: created %v, pin %s vs %s, %v", created, again.Pin, ca.Pin, err)
	}
	a := New(st, Options{CA: ca, CertTTL: time.Hour})
	return &fixture{a: a, ca: ca, admin: WithCaller(context.Background(), Caller{Name: "root", Role: plumbv1.Role_ROLE_ADMIN})}
}

func (f *fixture) joinToken(t *testing.T, uses uint32) string {
	t.Helper()
	resp, err := f.a.AdminServer().CreateJoinToken(f.admin, &plumbv1.CreateJoinTokenRequest{Uses: uses})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetCaPin() != f.ca.Pin {
		t.Fatalf("token create pin %s, CA %s", resp.GetCaPin(), f.ca.Pin)
	}
	return resp.GetToken()
}

func csrFor(t *testing.T, host string, key any) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: host}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// withPeer is the context of a call over mTLS presenting cert.
func withPeer(cert *x509.Certificate) context.Context {
	return peer.NewContext(context.Background(), &peer.Peer{AuthInfo: credentials.TLSInfo{
		State: tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{cert}}},
	}})
}

func TestEnrollRenewAndClash(t *testing.T) {
	f := newFixture(t)
	es := f.a.EnrollServer()
	key, _ := pki.GenerateKey()
	tok := f.joinToken(t, 2)

	for _, tc := range []struct {
		name string
		req  *plumbv1.EnrollRequest
		code codes.Code
	}{
		{"hostile host id", &plumbv1.EnrollRequest{JoinToken: tok, CsrDer: csrFor(t, "a\x1b[2J", key)}, codes.InvalidArgument},
		{"garbage csr", &plumbv1.EnrollRequest{JoinToken: tok, CsrDer: []byte("nope")}, codes.InvalidArgument},
		{"huge csr", &plumbv1.EnrollRequest{JoinToken: tok, CsrDer: make([]byte, 1<<20)}, codes.InvalidArgument},
		{"no token", &plumbv1.EnrollRequest{CsrDer: csrFor(t, "web1", key)}, codes.Unauthenticated},
	} {
		if _, err := es.Enroll(context.Background(), tc.req); status.Code(err) != tc.code {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.code)
		}
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := es.Enroll(context.Background(), &plumbv1.EnrollRequest{JoinToken: tok, CsrDer: csrFor(t, "web1", rsaKey)}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("RSA key: %v", err)
	}

	resp, err := es.Enroll(context.Background(), &plumbv1.EnrollRequest{JoinToken: tok, CsrDer: csrFor(t, "web1", key)})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(resp.GetCertificateDer())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := pki.VerifyChain([][]byte{cert.Raw}, f.ca.Cert, "", x509.ExtKeyUsageClientAuth); err != nil {
		t.Fatalf("issued certificate: %v", err)
	}
	// A client certificate must not pass as the collector's.
	if _, _, err := pki.VerifyChain([][]byte{cert.Raw, f.ca.Cert.Raw}, nil, f.ca.Pin, x509.ExtKeyUsageServerAuth); err == nil {
		t.Fatal("an agent's certificate verifies as a server certificate")
	}

	// Renewal: same host and key only.
	other, _ := pki.GenerateKey()
	ctx := withPeer(cert)
	if _, err := es.Renew(ctx, &plumbv1.RenewRequest{CsrDer: csrFor(t, "web1", other)}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("renew with another key: %v", err)
	}
	if _, err := es.Renew(ctx, &plumbv1.RenewRequest{CsrDer: csrFor(t, "db1", key)}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("renew for another host: %v", err)
	}
	if _, err := es.Renew(context.Background(), &plumbv1.RenewRequest{CsrDer: csrFor(t, "web1", key)}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("renew without a certificate: %v", err)
	}
	if _, err := es.Renew(ctx, &plumbv1.RenewRequest{CsrDer: csrFor(t, "web1", key)}); err != nil {
		t.Errorf("renew: %v", err)
	}

	// Another key for web1: refused, quarantined, the token not spent.
	_, err = es.Enroll(context.Background(), &plumbv1.EnrollRequest{JoinToken: tok, CsrDer: csrFor(t, "web1", other)})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("second key for web1: %v", err)
	}
	if err := f.a.AuthorizeStream(ctx, "web1"); err != nil {
		t.Errorf("the enrolled key may no longer stream: %v", err)
	}
	if _, err := es.Enroll(context.Background(), &plumbv1.EnrollRequest{JoinToken: tok, CsrDer: csrFor(t, "db1", other)}); err != nil {
		t.Errorf("the clash spent the token: %v", err)
	}
	if _, err := es.Enroll(context.Background(), &plumbv1.EnrollRequest{JoinToken: tok, CsrDer: csrFor(t, "db2", other)}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("a two-use token enrolled a third time: %v", err)
	}
	var id *store.Identity
	_ = f.a.st.View(context.Background(), func(tx store.ReadTx) error { id, err = tx.Identity("web1"); return err })
	if id == nil || !id.Quarantined() || id.ClashKeyPin == id.KeyPin {
		t.Fatalf("web1 after the clash: %+v", id)
	}

	// Revoked: no stream, no renewal; a new key may then enroll.
	if _, err := f.a.AdminServer().RevokeHost(f.admin, &plumbv1.RevokeHostRequest{HostId: "web1"}); err != nil {
		t.Fatal(err)
	}
	if err := f.a.AuthorizeStream(ctx, "web1"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("revoked stream: %v", err)
	}
	if _, err := es.Renew(ctx, &plumbv1.RenewRequest{CsrDer: csrFor(t, "web1", key)}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("revoked renewal: %v", err)
	}
	if _, err := es.Enroll(context.Background(), &plumbv1.EnrollRequest{JoinToken: f.joinToken(t, 1), CsrDer: csrFor(t, "web1", other)}); err != nil {
		t.Errorf("enroll after revoke: %v", err)
	}
	if err := f.a.AuthorizeStream(ctx, "web1"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("the old key streams after the host enrolled anew: %v", err)
	}
}

func TestJoinTokensPrunedAndAPITokensRevoked(t *testing.T) {
	f := newFixture(t)
	adm := f.a.AdminServer()
	if _, err := adm.CreateJoinToken(f.admin, &plumbv1.CreateJoinTokenRequest{TtlSeconds: 60}); err != nil {
		t.Fatal(err)
	}
	if n, err := f.a.PruneJoinTokens(context.Background(), time.Now()); err != nil || n != 0 {
		t.Fatalf("pruned %d live tokens (%v)", n, err)
	}
	if n, err := f.a.PruneJoinTokens(context.Background(), time.Now().Add(2*time.Minute)); err != nil || n != 1 {
		t.Fatalf("pruned %d of 1 expired tokens (%v)", n, err)
	}
	if _, err := adm.CreateJoinToken(f.admin, &plumbv1.CreateJoinTokenRequest{TtlSeconds: -1}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("negative ttl: %v", err)
	}
	if _, err := adm.CreateJoinToken(f.admin, &plumbv1.CreateJoinTokenRequest{Uses: 1 << 30}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a billion uses: %v", err)
	}
	if _, err := adm.CreateAPIToken(f.admin, &plumbv1.CreateAPITokenRequest{Role: plumbv1.Role(9)}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("role 9: %v", err)
	}
	if _, err := adm.CreateAPIToken(f.admin, &plumbv1.CreateAPITokenRequest{Role: plumbv1.Role_ROLE_VIEWER, Name: "a\x1bb"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a name with an escape: %v", err)
	}
	for range 2 {
		if _, err := adm.CreateAPIToken(f.admin, &plumbv1.CreateAPITokenRequest{Role: plumbv1.Role_ROLE_VIEWER, Name: "twin"}); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := adm.CreateAPIToken(f.admin, &plumbv1.CreateAPITokenRequest{Role: plumbv1.Role_ROLE_VIEWER, Name: "grafana", TtlSeconds: 60})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.lookupToken(context.Background(), tok.GetToken()); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.RevokeAPIToken(f.admin, &plumbv1.RevokeAPITokenRequest{Token: "twin"}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("revoke an ambiguous name: %v", err)
	}
	if _, err := adm.RevokeAPIToken(f.admin, &plumbv1.RevokeAPITokenRequest{Token: "grafana"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.lookupToken(context.Background(), tok.GetToken()); status.Code(err) != codes.Unauthenticated {
		t.Errorf("revoked token: %v", err)
	}
	expiring, _ := adm.CreateAPIToken(f.admin, &plumbv1.CreateAPITokenRequest{Role: plumbv1.Role_ROLE_VIEWER, TtlSeconds: 1})
	f.a.now = func() time.Time { return time.Now().Add(2 * time.Second) }
	if _, err := f.a.lookupToken(context.Background(), expiring.GetToken()); status.Code(err) != codes.Unauthenticated {
		t.Errorf("expired API token: %v", err)
	}
}
