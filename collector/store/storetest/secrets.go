package storetest

import (
	"bytes"
	"testing"

	"github.com/plumb-dev/plumb/collector/store"
)

// secretTests: collector-wide secrets are stored as given, any bytes.
var secretTests = []test{
	{"Secrets", testSecrets},
}

func testSecrets(t *testing.T, b Backend) {
	s := b.Open(t)
	hs := handles(t, b, s)
	key := bytes.Repeat([]byte{0x00, 0xff, 0x80, 'k'}, 64) // not UTF-8, with NULs
	pem := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutSecret("digest.key", key); err != nil {
			return err
		}
		return tx.PutSecret("ca.crt", pem)
	})
	for i, h := range hs {
		view(t, h, func(tx store.ReadTx) error {
			for name, want := range map[string][]byte{"digest.key": key, "ca.crt": pem} {
				got, err := tx.Secret(name)
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("handle %d: Secret(%s) = %q, %v; want %q", i, name, got, err, want)
				}
			}
			_, err := tx.Secret("ca.key")
			wantNotFound(t, "Secret(ca.key)", err)
			return nil
		})
	}
	// A second put replaces the value.
	update(t, s, func(tx store.Tx) error { return tx.PutSecret("ca.crt", []byte("new")) })
	view(t, s, func(tx store.ReadTx) error {
		if got, err := tx.Secret("ca.crt"); err != nil || string(got) != "new" {
			t.Errorf("Secret after a second put = %q, %v; want new", got, err)
		}
		return nil
	})
	if err := s.Update(t.Context(), func(tx store.Tx) error { return tx.PutSecret("", []byte("x")) }); err == nil {
		t.Error("PutSecret with an empty name succeeded")
	}
}
