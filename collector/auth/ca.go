// Package auth is who may do what on the collector: its CA and the
// certificates it issues to agents (enrollment, renewal, revocation,
// identity clashes), and the bearer tokens and roles of API callers.
//
// Files it keeps in the collector's data dir: ca.crt and ca.key (the CA,
// created on first start), admin.token (the first admin credential, 0600)
// and digest.key (the secret that keys content digests shown to callers
// below admin). Tokens and identities live in the store.
package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/plumb-dev/plumb/pkg/pki"
)

// File names in the data dir.
const (
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
)

// caLifetime is the CA's validity: it outlives any deployment, and its
// pin is what agents trust, so it must not change under them.
const caLifetime = 20 * 365 * 24 * time.Hour

// CA is the collector's certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// Pin is what agents and plumbctl pin: pki.Pin(Cert).
	Pin string
}

// LoadOrCreateCA reads the CA from dir, or creates it there if neither of
// its files exists. created reports the latter.
func LoadOrCreateCA(dir string, now time.Time) (ca *CA, created bool, err error) {
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	_, certErr := os.Stat(certPath)
	_, keyErr := os.Stat(keyPath)
	switch {
	case certErr == nil && keyErr == nil:
		cert, err := pki.ReadCertFile(certPath)
		if err != nil {
			return nil, false, fmt.Errorf("CA: %w", err)
		}
		key, err := pki.ReadKeyFile(keyPath)
		if err != nil {
			return nil, false, fmt.Errorf("CA: %w", err)
		}
		if !key.PublicKey.Equal(cert.PublicKey) {
			return nil, false, fmt.Errorf("CA: %s does not hold the key of %s", keyPath, certPath)
		}
		if !cert.IsCA {
			return nil, false, fmt.Errorf("CA: %s is not a CA certificate", certPath)
		}
		return &CA{Cert: cert, Key: key, Pin: pki.Pin(cert)}, false, nil
	case errors.Is(certErr, os.ErrNotExist) && errors.Is(keyErr, os.ErrNotExist):
	case certErr != nil && !errors.Is(certErr, os.ErrNotExist):
		return nil, false, fmt.Errorf("CA: %w", certErr)
	case keyErr != nil && !errors.Is(keyErr, os.ErrNotExist):
		return nil, false, fmt.Errorf("CA: %w", keyErr)
	default:
		// One of the two is missing: never replace a CA agents pin.
		return nil, false, fmt.Errorf("CA: %s and %s must both exist or both be absent (restore the missing one; a new CA would orphan every enrolled agent)", certPath, keyPath)
	}
	ca, certPEM, keyPEM, err := newCA(now)
	if err != nil {
		return nil, false, err
	}
	// The key first: a crash between the two leaves a key without a
	// certificate, which the next start refuses rather than replaces.
	if err := pki.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return nil, false, fmt.Errorf("CA: %w", err)
	}
	if err := pki.WriteFile(certPath, certPEM, 0o644); err != nil {
		return nil, false, fmt.Errorf("CA: %w", err)
	}
	return ca, true, nil
}

// newCA makes a new CA, and its certificate and key in PEM.
func newCA(now time.Time) (ca *CA, certPEM, keyPEM []byte, err error) {
	key, err := pki.GenerateKey()
	if err != nil {
		return nil, nil, nil, err
	}
	serial, err := pki.SerialNumber()
	if err != nil {
		return nil, nil, nil, err
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Plumb collector CA " + host, Organization: []string{"Plumb"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, err
	}
	keyPEM, err = pki.KeyPEM(key)
	if err != nil {
		return nil, nil, nil, err
	}
	return &CA{Cert: cert, Key: key, Pin: pki.Pin(cert)}, pki.CertPEM(der), keyPEM, nil
}

// ServerCertificate issues the collector's own TLS certificate, valid for
// names (DNS names or IP addresses) as a courtesy to clients that check
// names; Plumb's own clients check the chain to the pinned CA.
func (ca *CA) ServerCertificate(names []string, now time.Time, ttl time.Duration) (tls.Certificate, error) {
	key, err := pki.GenerateKey()
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := pki.SerialNumber()
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "plumb-collector", Organization: []string{"Plumb"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(ttl),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if n != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(nil, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.Cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// IssueClient issues a client certificate for host over pub.
func (ca *CA) IssueClient(host string, pub crypto.PublicKey, now time.Time, ttl time.Duration) (*x509.Certificate, error) {
	serial, err := pki.SerialNumber()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host, Organization: []string{"Plumb agents"}},
		NotBefore:    now.Add(-min(5*time.Minute, ttl/10)), // tolerate a little clock skew
		NotAfter:     now.Add(ttl),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(nil, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// ServerTLS returns the collector's TLS configuration: its certificate,
// and client certificates verified against the CA when given. Calls that
// need one (agent streams, renewal) check for it themselves; enrollment
// and the API authenticate otherwise.
func (ca *CA) ServerTLS(cert tls.Certificate) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS13,
	}
}

// DigestKeyFile keys the content digests that callers below admin see.
const DigestKeyFile = "digest.key"

// LoadOrCreateDigestKey returns the 32-byte secret in dir/digest.key,
// creating it (0600) on first start.
func LoadOrCreateDigestKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, DigestKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) != 32 {
			return nil, fmt.Errorf("%s: %d bytes, want 32 (delete it to have a new one made; keyed digests then change)", path, len(b))
		}
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := pki.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return b, nil
}
