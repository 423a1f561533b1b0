// Package pki holds what agent, collector and plumbctl share about
// Plumb's private PKI: keys, the CA pin, PEM files, and verifying a peer
// against a pinned CA.
//
// Every collector has its own CA. It signs one server certificate for the
// collector (ExtKeyUsage serverAuth) and one client certificate per host
// (clientAuth, subject CN = host id). Clients trust the CA by its pin, the
// SHA-256 of its public key, as kubeadm's discovery hash does; they check
// the chain and the key usage but not the server's name, since the CA
// signs nothing but this collector's certificates (and a host's client
// certificate cannot pass as a server's: its key usage says client).
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
)

// PinPrefix starts every pin.
const PinPrefix = "sha256:"

// GenerateKey returns a new P-256 key.
func GenerateKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// Pin returns "sha256:<hex>" of a certificate's public key.
func Pin(cert *x509.Certificate) string {
	return PinOfSPKI(cert.RawSubjectPublicKeyInfo)
}

// PinOfKey returns the pin of a public key.
func PinOfKey(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	return PinOfSPKI(der), nil
}

// PinOfSPKI returns the pin of a DER SubjectPublicKeyInfo.
func PinOfSPKI(spki []byte) string {
	sum := sha256.Sum256(spki)
	return PinPrefix + hex.EncodeToString(sum[:])
}

// ParsePin checks a pin's form and returns it normalised (lower case).
func ParsePin(s string) (string, error) {
	h, ok := strings.CutPrefix(strings.TrimSpace(s), PinPrefix)
	if !ok {
		return "", fmt.Errorf("CA pin %q: want sha256:<64 hex digits>", s)
	}
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("CA pin %q: want sha256:<64 hex digits>", s)
	}
	return PinPrefix + hex.EncodeToString(b), nil
}

// SamePin compares two pins in constant time.
func SamePin(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(a)), []byte(strings.ToLower(b))) == 1
}

// SerialNumber returns a random 128-bit certificate serial.
func SerialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

// maxPEM bounds a certificate or key file read from disk.
const maxPEM = 64 << 10

// ReadCertFile reads the first certificate of a PEM file.
func ReadCertFile(path string) (*x509.Certificate, error) {
	b, err := readSmall(path)
	if err != nil {
		return nil, err
	}
	c, err := ParseCertPEM(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseCertPEM parses the first certificate of PEM bytes.
func ParseCertPEM(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("no PEM certificate")
	}
	return x509.ParseCertificate(blk.Bytes)
}

// ReadKeyFile reads a PEM EC or PKCS #8 private key.
func ReadKeyFile(path string) (*ecdsa.PrivateKey, error) {
	b, err := readSmall(path)
	if err != nil {
		return nil, err
	}
	k, err := ParseKeyPEM(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ParseKeyPEM parses a PEM EC or PKCS #8 ECDSA private key.
func ParseKeyPEM(b []byte) (*ecdsa.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("no PEM key")
	}
	var k any
	var err error
	switch blk.Type {
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", blk.Type)
	}
	if err != nil {
		return nil, err
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%T key, want ECDSA", k)
	}
	return ec, nil
}

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPEM+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > maxPEM {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxPEM)
	}
	return b, nil
}

// CertPEM encodes a DER certificate as PEM.
func CertPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// KeyPEM encodes a key as a PEM EC private key.
func KeyPEM(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// WriteFile writes data to path atomically (temporary file, fsync,
// rename) with the given mode, so a crash never leaves half a key.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ErrPinMismatch is returned when a peer's CA is not the pinned one.
var ErrPinMismatch = errors.New("the collector's CA does not match the pinned CA")

// VerifyChain checks a peer's certificate chain (DER, leaf first) against
// a CA: either the certificate given (roots), or, when roots is nil, the
// chain's own certificate whose pin equals pin. It checks the leaf's
// signature, validity and key usage; it does not check names. It returns
// the leaf and the CA it chains to.
func VerifyChain(rawCerts [][]byte, roots *x509.Certificate, pin string, usage x509.ExtKeyUsage) (leaf, ca *x509.Certificate, err error) {
	if len(rawCerts) == 0 {
		return nil, nil, errors.New("peer sent no certificate")
	}
	if len(rawCerts) > 4 {
		return nil, nil, fmt.Errorf("peer sent %d certificates", len(rawCerts))
	}
	certs := make([]*x509.Certificate, len(rawCerts))
	for i, raw := range rawCerts {
		c, err := x509.ParseCertificate(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("peer certificate %d: %w", i, err)
		}
		certs[i] = c
	}
	ca = roots
	if ca == nil {
		for _, c := range certs {
			if c.IsCA && SamePin(Pin(c), pin) {
				ca = c
				break
			}
		}
		if ca == nil {
			return nil, nil, fmt.Errorf("%w (pin %s)", ErrPinMismatch, pin)
		}
	} else if pin != "" && !SamePin(Pin(ca), pin) {
		return nil, nil, fmt.Errorf("%w (pin %s, CA file's %s)", ErrPinMismatch, pin, Pin(ca))
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return nil, nil, fmt.Errorf("peer certificate: %w", err)
	}
	return certs[0], ca, nil
}

// ClientTLS is the TLS configuration of a client of a Plumb collector: it
// trusts the CA that trust returns (a CA certificate, or nil and a pin to
// find it in the server's chain) and checks the server's chain and key
// usage with VerifyChain. trust is called at each handshake, so a client
// that learns its CA later (an agent enrolling) sees it.
func ClientTLS(trust func() (ca *x509.Certificate, pin string)) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // replaced by VerifyPeerCertificate: chain and key usage, no name
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			ca, pin := trust()
			_, _, err := VerifyChain(raw, ca, pin, x509.ExtKeyUsageServerAuth)
			return err
		},
	}
}

// TrustCA is a trust function for ClientTLS with a fixed CA or pin.
func TrustCA(ca *x509.Certificate, pin string) func() (*x509.Certificate, string) {
	return func() (*x509.Certificate, string) { return ca, pin }
}
