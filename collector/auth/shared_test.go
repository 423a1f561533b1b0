package auth

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/pki"
)

func openSharedStore(t *testing.T) *store.Bolt {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "shared.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func secret(t *testing.T, st store.Store, name string) []byte {
	t.Helper()
	var b []byte
	err := st.View(context.Background(), func(tx store.ReadTx) error {
		var err error
		b, err = tx.Secret(name)
		return err
	})
	if err != nil {
		t.Fatalf("secret %s: %v", name, err)
	}
	return b
}

// Collectors starting together on one database end up with one CA and
// one digest key, the ones stored: the first creates, the rest read.
func TestSharedSecretsOneCAForAll(t *testing.T) {
	st := openSharedStore(t)
	ctx := context.Background()
	const collectors = 4
	cas := make([]*CA, collectors)
	keys := make([][]byte, collectors)
	created := make([]bool, collectors)
	var wg sync.WaitGroup
	for i := range collectors {
		wg.Go(func() {
			ca, made, err := LoadOrCreateSharedCA(ctx, st, time.Now())
			if err != nil {
				t.Error(err)
				return
			}
			key, err := LoadOrCreateSharedDigestKey(ctx, st)
			if err != nil {
				t.Error(err)
				return
			}
			cas[i], keys[i], created[i] = ca, key, made
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	made := 0
	stored, err := pki.ParseCertPEM(secret(t, st, CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	for i := range collectors {
		if created[i] {
			made++
		}
		if cas[i].Pin != pki.Pin(stored) {
			t.Errorf("collector %d uses CA %s, the database holds %s", i, cas[i].Pin, pki.Pin(stored))
		}
		if !bytes.Equal(keys[i], secret(t, st, DigestKeyFile)) || len(keys[i]) != digestKeySize {
			t.Errorf("collector %d digest key differs from the stored one", i)
		}
	}
	if made != 1 {
		t.Errorf("%d collectors created a CA, want 1", made)
	}
	// The CA signs what every collector verifies.
	if !cas[0].Key.PublicKey.Equal(stored.PublicKey) {
		t.Error("stored certificate does not match the key in use")
	}
}

// A database holding half a CA, or a digest key of the wrong size, is
// refused rather than replaced.
func TestSharedSecretsRefuseDamage(t *testing.T) {
	ctx := context.Background()
	st := openSharedStore(t)
	_, certPEM, _, err := newCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	put := func(name string, v []byte) {
		t.Helper()
		if err := st.Update(ctx, func(tx store.Tx) error { return tx.PutSecret(name, v) }); err != nil {
			t.Fatal(err)
		}
	}
	put(CACertFile, certPEM)
	if _, _, err := LoadOrCreateSharedCA(ctx, st, time.Now()); err == nil || !strings.Contains(err.Error(), "only one") {
		t.Errorf("half a CA: err = %v, want a refusal", err)
	}
	if got := secret(t, st, CACertFile); !bytes.Equal(got, certPEM) {
		t.Error("the stored certificate was replaced")
	}
	put(CAKeyFile, []byte("-----BEGIN EC PRIVATE KEY-----\nnot a key\n-----END EC PRIVATE KEY-----\n"))
	if _, _, err := LoadOrCreateSharedCA(ctx, st, time.Now()); err == nil {
		t.Error("a garbage key was accepted")
	}
	put(DigestKeyFile, []byte("short"))
	if _, err := LoadOrCreateSharedDigestKey(ctx, st); err == nil {
		t.Error("a 5-byte digest key was accepted")
	}
}
