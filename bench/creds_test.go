package bench

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
	"google.golang.org/grpc/credentials/insecure"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/bearer"
	"github.com/plumb-dev/plumb/pkg/pki"
)

// dial connects to the collector as packaged clients do: TLS trusting its
// ca.crt, presenting cert if not nil, and (admin) the collector's first
// admin token; plaintext for an --insecure collector.
func (c *collector) dial(b *testing.B, cert *tls.Certificate, admin bool) *grpc.ClientConn {
	b.Helper()
	creds := insecure.NewCredentials()
	if !c.insecure {
		ca, err := pki.ReadCertFile(filepath.Join(c.data, "ca.crt"))
		if err != nil {
			b.Fatal(err)
		}
		cfg := pki.ClientTLS(pki.TrustCA(ca, ""))
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		creds = credentials.NewTLS(cfg)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if admin {
		tok, err := os.ReadFile(filepath.Join(c.data, "admin.token"))
		if err != nil {
			b.Fatal(err)
		}
		opts = append(opts, grpc.WithPerRPCCredentials(bearer.Token{Token: strings.TrimSpace(string(tok)), Insecure: c.insecure}))
	}
	conn, err := grpc.NewClient(c.addr, opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return conn
}

// enroll gets a client certificate for host, as an agent does.
func (c *collector) enroll(b *testing.B, host string) *tls.Certificate {
	b.Helper()
	key, err := pki.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(nil, &x509.CertificateRequest{Subject: pkix.Name{CommonName: host}}, key)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := plumbv1.NewEnrollServiceClient(c.dial(b, nil, false)).Enroll(ctx, &plumbv1.EnrollRequest{JoinToken: c.joinToken, CsrDer: csr})
	if err != nil {
		b.Fatalf("enroll %s: %v", host, err)
	}
	return &tls.Certificate{Certificate: [][]byte{resp.GetCertificateDer()}, PrivateKey: key}
}
