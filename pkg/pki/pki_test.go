package pki

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mkCert(t *testing.T, cn string, isCA bool, eku []x509.ExtKeyUsage, parent *x509.Certificate, parentKey any) (*x509.Certificate, any) {
	t.Helper()
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: isCA, BasicConstraintsValid: true, ExtKeyUsage: eku,
	}
	if isCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(nil, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func TestVerifyChain(t *testing.T) {
	ca, caKey := mkCert(t, "ca", true, nil, nil, nil)
	other, otherKey := mkCert(t, "other ca", true, nil, nil, nil)
	server, _ := mkCert(t, "server", false, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, ca, caKey)
	client, _ := mkCert(t, "client", false, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, ca, caKey)
	forged, _ := mkCert(t, "server", false, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, other, otherKey)

	if _, got, err := VerifyChain([][]byte{server.Raw, ca.Raw}, nil, Pin(ca), x509.ExtKeyUsageServerAuth); err != nil || !got.Equal(ca) {
		t.Fatalf("pinned chain: %v", err)
	}
	if _, _, err := VerifyChain([][]byte{server.Raw}, ca, "", x509.ExtKeyUsageServerAuth); err != nil {
		t.Fatalf("chain to a CA file: %v", err)
	}
	for name, tc := range map[string]struct {
		raw  [][]byte
		root *x509.Certificate
		pin  string
	}{
		"another CA, its own pin in the chain": {[][]byte{forged.Raw, other.Raw}, nil, Pin(ca)},
		"another CA's leaf with ours appended": {[][]byte{forged.Raw, ca.Raw}, nil, Pin(ca)},
		"a client certificate as a server":     {[][]byte{client.Raw, ca.Raw}, nil, Pin(ca)},
		"CA file and pin disagree":             {[][]byte{server.Raw}, ca, Pin(other)},
		"nothing":                              {nil, nil, Pin(ca)},
		"garbage":                              {[][]byte{[]byte("x")}, nil, Pin(ca)},
		"too many":                             {[][]byte{server.Raw, ca.Raw, ca.Raw, ca.Raw, ca.Raw}, nil, Pin(ca)},
	} {
		if _, _, err := VerifyChain(tc.raw, tc.root, tc.pin, x509.ExtKeyUsageServerAuth); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestPinAndFiles(t *testing.T) {
	ca, _ := mkCert(t, "ca", true, nil, nil, nil)
	pin := Pin(ca)
	if p, err := ParsePin(strings.ToUpper(strings.TrimPrefix(pin, PinPrefix))); err == nil {
		t.Errorf("pin without prefix accepted: %s", p)
	}
	if p, err := ParsePin(" sha256:" + strings.ToUpper(strings.TrimPrefix(pin, PinPrefix)) + "\n"); err != nil || p != pin {
		t.Errorf("ParsePin: %q %v, want %q", p, err, pin)
	}
	dir := t.TempDir()
	if err := WriteFile(filepath.Join(dir, "ca.crt"), CertPEM(ca.Raw), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCertFile(filepath.Join(dir, "ca.crt"))
	if err != nil || !got.Equal(ca) {
		t.Fatalf("ReadCertFile: %v", err)
	}
	if _, err := ReadKeyFile(filepath.Join(dir, "ca.crt")); err == nil {
		t.Error("a certificate read as a key")
	}
	if err := WriteFile(filepath.Join(dir, "big"), make([]byte, maxPEM+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCertFile(filepath.Join(dir, "big")); err == nil || !strings.Contains(err.Error(), "larger") {
		t.Errorf("oversized file: %v", err)
	}
}

func FuzzVerifyChain(f *testing.F) {
	f.Add([]byte("x"), []byte{})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		_, _, _ = VerifyChain([][]byte{a, b}, nil, PinPrefix+strings.Repeat("00", 32), x509.ExtKeyUsageServerAuth)
	})
}
