package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
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
	conn, err := c.tryDial(b, cert, admin)
	if err != nil {
		b.Fatal(err)
	}
	return conn
}

// tryDial is dial for any goroutine: it returns its error.
func (c *collector) tryDial(b *testing.B, cert *tls.Certificate, admin bool) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if !c.insecure {
		ca, err := pki.ReadCertFile(filepath.Join(c.data, "ca.crt"))
		if err != nil {
			return nil, err
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
			return nil, err
		}
		opts = append(opts, grpc.WithPerRPCCredentials(bearer.Token{Token: strings.TrimSpace(string(tok)), Insecure: c.insecure}))
	}
	conn, err := grpc.NewClient(c.addr, opts...)
	if err != nil {
		return nil, err
	}
	b.Cleanup(func() { conn.Close() })
	return conn, nil
}

// enroll gets a client certificate for host, as an agent does, once: a
// host that connects again keeps its key, as an agent does.
func (c *collector) enroll(b *testing.B, host string) *tls.Certificate {
	b.Helper()
	cert, err := c.tryEnroll(b, host)
	if err != nil {
		b.Fatal(err)
	}
	return cert
}

// tryEnroll is enroll for any goroutine: it returns its error.
func (c *collector) tryEnroll(b *testing.B, host string) (*tls.Certificate, error) {
	c.mu.Lock()
	cert, ok := c.certs[host]
	var err error
	if c.enrollConn == nil {
		c.enrollConn, err = c.tryDial(b, nil, false)
	}
	conn := c.enrollConn
	c.mu.Unlock()
	if ok || err != nil {
		return cert, err
	}
	key, err := pki.GenerateKey()
	if err != nil {
		return nil, err
	}
	csr, err := x509.CreateCertificateRequest(nil, &x509.CertificateRequest{Subject: pkix.Name{CommonName: host}}, key)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := plumbv1.NewEnrollServiceClient(conn).Enroll(ctx, &plumbv1.EnrollRequest{JoinToken: c.joinToken, CsrDer: csr})
	if err != nil {
		return nil, fmt.Errorf("enroll %s: %w", host, err)
	}
	cert = &tls.Certificate{Certificate: [][]byte{resp.GetCertificateDer()}, PrivateKey: key}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.certs == nil {
		c.certs = map[string]*tls.Certificate{}
	}
	c.certs[host] = cert
	return cert, nil
}
