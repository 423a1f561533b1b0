package enroll

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/pkg/pki"
)

// issue signs a certificate as a collector's CA would, or not.
func issue(t *testing.T, ca *x509.Certificate, caKey any, cn string, pub any, eku x509.ExtKeyUsage, ttl time.Duration) []byte {
	t.Helper()
	der, err := x509.CreateCertificate(nil, &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(ttl), ExtKeyUsage: []x509.ExtKeyUsage{eku},
	}, ca, pub, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func newCA(t *testing.T) (*x509.Certificate, any) {
	t.Helper()
	key, _ := pki.GenerateKey()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

// TestAdoptChecksWhatTheCollectorSends: a certificate for another host,
// another key, the wrong use or from another CA is refused, and nothing
// is written; a good one is kept 0600 and survives a restart.
func TestAdoptChecksWhatTheCollectorSends(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCA(t)
	id, err := Load(Options{Dir: dir, HostID: "web1", CAPin: pki.Pin(ca), JoinToken: "t"})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := pki.GenerateKey()
	otherCA, otherCAKey := newCA(t)
	pub := &id.key.PublicKey
	for name, der := range map[string][]byte{
		"another host": issue(t, ca, caKey, "db1", pub, x509.ExtKeyUsageClientAuth, time.Hour),
		"another key":  issue(t, ca, caKey, "web1", &other.PublicKey, x509.ExtKeyUsageClientAuth, time.Hour),
		"server use":   issue(t, ca, caKey, "web1", pub, x509.ExtKeyUsageServerAuth, time.Hour),
		"another CA":   issue(t, otherCA, otherCAKey, "web1", pub, x509.ExtKeyUsageClientAuth, time.Hour),
		"expired":      issue(t, ca, caKey, "web1", pub, x509.ExtKeyUsageClientAuth, -time.Second),
		"garbage":      []byte("nope"),
		"huge":         make([]byte, 1<<20),
	} {
		if err := id.adopt(der, ca); err == nil {
			t.Errorf("%s: adopted", name)
		}
	}
	if id.Enrolled() {
		t.Fatal("enrolled after refusals")
	}
	if _, err := os.Stat(filepath.Join(dir, CertFile)); !os.IsNotExist(err) {
		t.Fatalf("a refused certificate was written: %v", err)
	}
	if err := id.adopt(issue(t, ca, caKey, "web1", pub, x509.ExtKeyUsageClientAuth, time.Hour), ca); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, CertFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("certificate file: %v %v", fi.Mode(), err)
	}
	again, err := Load(Options{Dir: dir, HostID: "web1"})
	if err != nil || !again.Enrolled() {
		t.Fatalf("after restart without pin or token: enrolled %v, %v", again != nil && again.Enrolled(), err)
	}
	// A pin for another CA (the collector was reinstalled): the stored
	// certificate is not used; the agent enrolls afresh.
	moved, err := Load(Options{Dir: dir, HostID: "web1", CAPin: pki.Pin(otherCA), JoinToken: "t"})
	if err != nil || moved.Enrolled() {
		t.Fatalf("with another CA's pin: enrolled %v, %v", moved != nil && moved.Enrolled(), err)
	}
	// Another host id over the same state dir: not this certificate.
	if renamed, err := Load(Options{Dir: dir, HostID: "web2"}); err != nil || renamed.Enrolled() {
		t.Fatalf("another host id: %v", err)
	}
	if _, err := Load(Options{Dir: t.TempDir(), HostID: "web1"}); err == nil || !strings.Contains(err.Error(), "not enrolled") {
		t.Fatalf("no pin, no state: %v", err)
	}
}
