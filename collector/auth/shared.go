package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/pki"
)

// Collectors sharing one database must agree on the CA (agents pin it and
// present certificates any collector must verify) and on the digest key
// (keyed digests must compare equal whichever collector answers). With a
// shared store they are kept in it as secrets named like the data-dir
// files (CACertFile, CAKeyFile, DigestKeyFile), so that collectors keep
// nothing of their own on disk. The first collector to start creates them
// in one transaction that first reads them: the Store's Update is
// serializable (bbolt's single writer; PostgreSQL's writer lock), so two
// collectors starting together agree on one CA. `plumb-collector migrate`
// copies a bbolt installation's files into these secrets.

// maxSecret bounds a secret read from the database, which is hostile too.
const maxSecret = 64 << 10

// digestKeySize is the digest key's length in bytes.
const digestKeySize = 32

// LoadOrCreateSharedCA reads the CA from st's secrets, or creates it
// there if neither exists. created reports the latter.
func LoadOrCreateSharedCA(ctx context.Context, st store.Store, now time.Time) (ca *CA, created bool, err error) {
	err = st.Update(ctx, func(tx store.Tx) error {
		ca, created = nil, false
		certPEM, certErr := tx.Secret(CACertFile)
		keyPEM, keyErr := tx.Secret(CAKeyFile)
		switch {
		case certErr == nil && keyErr == nil:
			ca, err = parseCA(certPEM, keyPEM)
			return err
		case errors.Is(certErr, store.ErrNotFound) && errors.Is(keyErr, store.ErrNotFound):
		case certErr != nil && !errors.Is(certErr, store.ErrNotFound):
			return fmt.Errorf("CA: %w", certErr)
		case keyErr != nil && !errors.Is(keyErr, store.ErrNotFound):
			return fmt.Errorf("CA: %w", keyErr)
		default:
			return fmt.Errorf("CA: the database holds only one of the secrets %s and %s (restore the other; a new CA would orphan every enrolled agent)", CACertFile, CAKeyFile)
		}
		ca, certPEM, keyPEM, err = newCA(now)
		if err != nil {
			return err
		}
		if err := tx.PutSecret(CAKeyFile, keyPEM); err != nil {
			return err
		}
		if err := tx.PutSecret(CACertFile, certPEM); err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return ca, created, nil
}

// parseCA checks a CA read from the database as LoadOrCreateCA checks its
// files.
func parseCA(certPEM, keyPEM []byte) (*CA, error) {
	if len(certPEM) > maxSecret || len(keyPEM) > maxSecret {
		return nil, fmt.Errorf("CA: secret larger than %d bytes", maxSecret)
	}
	cert, err := pki.ParseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("CA: secret %s: %w", CACertFile, err)
	}
	key, err := pki.ParseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA: secret %s: %w", CAKeyFile, err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("CA: secret %s does not hold the key of %s", CAKeyFile, CACertFile)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("CA: secret %s is not a CA certificate", CACertFile)
	}
	return &CA{Cert: cert, Key: key, Pin: pki.Pin(cert)}, nil
}

// LoadOrCreateSharedDigestKey reads the digest key from st's secrets, or
// creates it there.
func LoadOrCreateSharedDigestKey(ctx context.Context, st store.Store) ([]byte, error) {
	var key []byte
	err := st.Update(ctx, func(tx store.Tx) error {
		b, err := tx.Secret(DigestKeyFile)
		if err == nil {
			if len(b) != digestKeySize {
				return fmt.Errorf("secret %s: %d bytes, want %d", DigestKeyFile, len(b), digestKeySize)
			}
			key = b
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		b = make([]byte, digestKeySize)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		key = b
		return tx.PutSecret(DigestKeyFile, b)
	})
	if err != nil {
		return nil, err
	}
	return key, nil
}
