package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/pki"
)

// A test's own gRPC clients of a TLS collector: they trust its ca.crt
// and present a client certificate only when given one.

// collectorTLS returns a TLS configuration trusting the collector's CA,
// presenting cert if it is not nil.
func collectorTLS(t *testing.T, c *collector, cert *tls.Certificate) *tls.Config {
	t.Helper()
	var ca *x509.Certificate
	waitFor(t, 10*time.Second, "the collector's ca.crt", func() bool {
		var err error
		ca, err = pki.ReadCertFile(filepath.Join(c.data, "ca.crt"))
		return err == nil
	})
	cfg := pki.ClientTLS(pki.TrustCA(ca, ""))
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return cfg
}

// dialTLS connects to the collector over TLS, presenting cert (nil: none).
func dialTLS(t *testing.T, c *collector, cert *tls.Certificate) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(credentials.NewTLS(collectorTLS(t, c, cert))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// enrollAs enrolls host with the collector as an agent would (a join
// token, a new key, a CSR) and returns its client certificate.
func enrollAs(t *testing.T, c *collector, host string) (*tls.Certificate, error) {
	t.Helper()
	args := agentAuthArgs(t, c.addr)
	token := args[1]
	key, err := pki.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(nil, &x509.CertificateRequest{Subject: pkix.Name{CommonName: host}}, key)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A connection of its own, closed at once: enrolling many hosts must
	// not hold many connections open against the per-address cap.
	cc, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(credentials.NewTLS(collectorTLS(t, c, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	resp, err := plumbv1.NewEnrollServiceClient(cc).Enroll(ctx, &plumbv1.EnrollRequest{JoinToken: token, CsrDer: csr})
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{resp.GetCertificateDer()}, PrivateKey: key}, nil
}

// agentCert is the certificate an agent keeps in its state dir.
func agentCert(t *testing.T, state string) *tls.Certificate {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(state, "agent.crt"), filepath.Join(state, "agent.key"))
	if err != nil {
		t.Fatal(err)
	}
	return &cert
}

// adminToken is the collector's first admin API token.
func adminToken(t *testing.T, c *collector) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// withToken returns ctx sending token as the API bearer token.
func withToken(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}
