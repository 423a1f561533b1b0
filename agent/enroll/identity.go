// Package enroll gives the agent its identity: a key it generates and
// keeps in its state dir, a client certificate for its host id that the
// collector's CA issues in exchange for a join token, renewal at two
// thirds of the certificate's life, and a TLS configuration that trusts
// only the pinned collector CA.
//
// Files in the state dir: agent.key (0600), agent.crt (0600) and ca.crt,
// the collector CA whose pin the agent was given.
package enroll

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/plumb-dev/plumb/pkg/pki"
)

// File names in the state dir.
const (
	KeyFile  = "agent.key"
	CertFile = "agent.crt"
	CAFile   = "ca.crt"
)

// Identity is the agent's key, certificate and trusted CA.
type Identity struct {
	dir    string
	host   string
	pin    string // configured CA pin; "" trusts the stored ca.crt
	token  string // join token; "" if none was given
	logger *slog.Logger
	now    func() time.Time

	key *ecdsa.PrivateKey

	mu   sync.Mutex
	ca   *x509.Certificate // nil until enrolled or configured
	cert *tls.Certificate  // nil until enrolled
}

// Options configure Load.
type Options struct {
	// Dir is the state dir; HostID the host id the certificate names.
	Dir, HostID string
	// CAPin ("sha256:…") is required to enroll; later the CA stored at
	// enrollment is trusted, and a pin given must still match it.
	CAPin string
	// JoinToken enrolls the agent when it has no valid certificate.
	JoinToken string
	Logger    *slog.Logger
	Now       func() time.Time
}

// Load reads (or creates) the agent's key and reads its certificate and CA
// from the state dir.
func Load(o Options) (*Identity, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	id := &Identity{dir: o.Dir, host: o.HostID, token: o.JoinToken, logger: o.Logger, now: o.Now}
	if o.CAPin != "" {
		pin, err := pki.ParsePin(o.CAPin)
		if err != nil {
			return nil, err
		}
		id.pin = pin
	}
	keyPath := filepath.Join(o.Dir, KeyFile)
	key, err := pki.ReadKeyFile(keyPath)
	if errors.Is(err, os.ErrNotExist) {
		if key, err = pki.GenerateKey(); err != nil {
			return nil, err
		}
		pemKey, err := pki.KeyPEM(key)
		if err != nil {
			return nil, err
		}
		if err := pki.WriteFile(keyPath, pemKey, 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", keyPath, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("agent key: %w", err)
	}
	id.key = key

	ca, err := pki.ReadCertFile(filepath.Join(o.Dir, CAFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("stored collector CA: %w", err)
	case id.pin != "" && !pki.SamePin(pki.Pin(ca), id.pin):
		// The collector was reinstalled, or the pin is wrong: enroll
		// afresh against the pinned CA, never trust both.
		o.Logger.Warn("the stored collector CA does not match --ca-pin; enrolling again", "stored", pki.Pin(ca), "pin", id.pin)
	default:
		id.ca = ca
	}
	if id.ca != nil {
		cert, err := pki.ReadCertFile(filepath.Join(o.Dir, CertFile))
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			o.Logger.Warn("ignoring the stored certificate", "err", err)
		default:
			if err := id.check(cert, id.ca); err != nil {
				o.Logger.Warn("ignoring the stored certificate", "err", err)
			} else {
				id.cert = id.tlsCert(cert)
			}
		}
	}
	if id.ca == nil && id.pin == "" {
		return nil, errors.New("not enrolled: give the collector's CA pin (--ca-pin sha256:…) and a join token (--join-token); `plumbctl token create` on the collector prints both")
	}
	return id, nil
}

// check verifies that cert is a client certificate for this host and key,
// issued by ca and not expired.
func (id *Identity) check(cert, ca *x509.Certificate) error {
	if cert.Subject.CommonName != id.host {
		return fmt.Errorf("certificate is for host %q, not %q", cert.Subject.CommonName, id.host)
	}
	if !id.key.PublicKey.Equal(cert.PublicKey) {
		return errors.New("certificate is not for this agent's key")
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	_, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, CurrentTime: id.now()})
	if err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	return nil
}

func (id *Identity) tlsCert(cert *x509.Certificate) *tls.Certificate {
	return &tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: id.key, Leaf: cert}
}

// Enrolled reports whether the agent holds an unexpired certificate.
func (id *Identity) Enrolled() bool {
	id.mu.Lock()
	defer id.mu.Unlock()
	return id.cert != nil && id.now().Before(id.cert.Leaf.NotAfter)
}

// NotAfter is the current certificate's expiry (zero if none).
func (id *Identity) NotAfter() time.Time {
	id.mu.Lock()
	defer id.mu.Unlock()
	if id.cert == nil {
		return time.Time{}
	}
	return id.cert.Leaf.NotAfter
}

// TLSConfig trusts only the pinned (or stored) collector CA and presents
// the current certificate, once there is an unexpired one. It checks the
// collector's chain and key usage, not its name: see package pki.
func (id *Identity) TLSConfig() *tls.Config {
	cfg := pki.ClientTLS(func() (*x509.Certificate, string) {
		id.mu.Lock()
		defer id.mu.Unlock()
		return id.ca, id.pin
	})
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		id.mu.Lock()
		defer id.mu.Unlock()
		if id.cert == nil || !id.now().Before(id.cert.Leaf.NotAfter) {
			return &tls.Certificate{}, nil // none: enrollment, or expired
		}
		return id.cert, nil
	}
	return cfg
}

// csr returns a certificate request for the host over the agent's key.
func (id *Identity) csr() ([]byte, error) {
	return x509.CreateCertificateRequest(nil, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: id.host},
	}, id.key)
}

// adopt checks a certificate the collector issued and makes it current,
// storing it (and the CA, at enrollment).
func (id *Identity) adopt(certDER []byte, ca *x509.Certificate) error {
	if len(certDER) == 0 || len(certDER) > 16<<10 {
		return fmt.Errorf("collector sent a certificate of %d bytes", len(certDER))
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return fmt.Errorf("collector sent a bad certificate: %w", err)
	}
	if err := id.check(cert, ca); err != nil {
		return fmt.Errorf("collector sent a certificate that does not fit: %w", err)
	}
	id.mu.Lock()
	newCA := id.ca == nil || !id.ca.Equal(ca)
	id.mu.Unlock()
	if newCA {
		if err := pki.WriteFile(filepath.Join(id.dir, CAFile), pki.CertPEM(ca.Raw), 0o644); err != nil {
			return err
		}
	}
	if err := pki.WriteFile(filepath.Join(id.dir, CertFile), pki.CertPEM(cert.Raw), 0o600); err != nil {
		return err
	}
	id.mu.Lock()
	id.ca = ca
	id.cert = id.tlsCert(cert)
	id.mu.Unlock()
	return nil
}

// errNoToken explains what an agent without a certificate needs.
var errNoToken = errors.New("no valid certificate and no join token: create one on the collector with `plumbctl token create` and pass it with --join-token (or join_token in agent.yaml)")

// callContext bounds an Enroll or Renew call.
func callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 30*time.Second)
}
