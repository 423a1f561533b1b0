package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

func openTemp(t *testing.T) (*Bolt, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plumb.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func sysctl(name, value string) *plumbv1.Fact {
	return fact.Seal(&plumbv1.Fact{
		Kind:  plumbv1.FactKind_FACT_KIND_SYSCTL,
		Key:   []byte(name),
		Attrs: &plumbv1.Fact_Value{Value: &plumbv1.ValueAttrs{Value: value}},
	})
}

func fileFact(path string, content string) *plumbv1.Fact {
	return fact.Seal(&plumbv1.Fact{
		Kind: plumbv1.FactKind_FACT_KIND_FILE,
		Key:  []byte(path),
		Attrs: &plumbv1.Fact_File{File: &plumbv1.FileAttrs{
			Type: plumbv1.FileType_FILE_TYPE_REGULAR, Mode: 0o644, Size: int64(len(content)),
			Sha256: []byte(content),
		}},
	})
}

func TestReopenPersists(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "plumb.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := &Host{ID: "web1", AppliedSeq: 7, FactCount: 1}
	f := fileFact("/etc/hosts", "x")
	h.Digest.Add(fact.KeyOf(f), f.GetDigest())
	err = s.Update(ctx, func(tx Tx) error {
		if err := tx.PutHost(h); err != nil {
			return err
		}
		if err := tx.PutFact("web1", f); err != nil {
			return err
		}
		if err := tx.SetCursor("webhook", 3); err != nil {
			return err
		}
		return tx.AppendEvent(&plumbv1.DriftEvent{Id: "e1"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	err = s.View(ctx, func(tx ReadTx) error {
		got, err := tx.Host("web1")
		if err != nil {
			return err
		}
		if got.AppliedSeq != 7 || string(got.Digest.Sum()) != string(h.Digest.Sum()) {
			t.Errorf("host after reopen: seq %d digest %x, want 7 %x", got.AppliedSeq, got.Digest.Sum(), h.Digest.Sum())
		}
		if _, err := tx.Fact("web1", fact.KeyOf(f)); err != nil {
			t.Errorf("fact after reopen: %v", err)
		}
		if c, _ := tx.Cursor("webhook"); c != 3 {
			t.Errorf("cursor after reopen = %d, want 3", c)
		}
		if seq, _ := tx.LastEventSeq(); seq != 1 {
			t.Errorf("last event seq after reopen = %d, want 1", seq)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenRejectsForeignFiles(t *testing.T) {
	dir := t.TempDir()
	random := make([]byte, 64<<10)
	_, _ = rand.Read(random)

	// A real Plumb database, truncated to a third of the pages it uses
	// (bbolt grows the file ahead of them).
	truncated := filepath.Join(dir, "truncated.db")
	s, err := Open(truncated, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(context.Background(), func(tx Tx) error {
		for i := range 3000 {
			if err := tx.PutFact("h", fileFact(fmt.Sprintf("/f/%05d", i), strings.Repeat("x", 300))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var used int
	_ = s.db.View(func(tx *bolt.Tx) error { used = int(tx.Size()); return nil })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(truncated)
	if err != nil {
		t.Fatal(err)
	}
	truncate := func(size int) func() string {
		return func() string { return write(t, dir, fmt.Sprintf("truncated-%d.db", size), whole[:size]) }
	}

	// Another program's bbolt file.
	foreign := filepath.Join(dir, "foreign.db")
	db, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("widgets"))
		if err != nil {
			return err
		}
		return b.Put([]byte("a"), []byte("b"))
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()

	// A Plumb database from a newer build.
	newer := filepath.Join(dir, "newer.db")
	s, err = Open(newer, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, be64(latestSchema()+1))
	})
	_ = s.Close()

	cases := map[string]func() string{
		"random bytes":           func() string { return write(t, dir, "random.db", random) },
		"text file":              func() string { return write(t, dir, "config.yaml", []byte("collector:\n  listen: :7400\n")) },
		"short file":             func() string { return write(t, dir, "short.db", []byte("plumb")) },
		"text under two pages":   func() string { return write(t, dir, "notes.db", []byte(strings.Repeat("not a database\n", 1000))) },
		"truncated to a third":   truncate(used / 3),
		"truncated by one page":  truncate(used - pageSize),
		"truncated to two pages": truncate(2 * pageSize),
		"foreign bolt":           func() string { return foreign },
		"newer schema":           func() string { return newer },
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			path := mk()
			before, _ := os.ReadFile(path)
			s, err := Open(path, Options{})
			if err == nil {
				s.Close()
				t.Fatalf("Open(%s) succeeded", name)
			}
			if !errors.Is(err, ErrNotDatabase) {
				t.Errorf("error %v is not ErrNotDatabase", err)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not a Plumb collector database") {
				t.Errorf("error %q does not name the file and the problem", err)
			}
			after, _ := os.ReadFile(path)
			if string(before) != string(after) {
				t.Errorf("Open modified the file")
			}
		})
	}
}

func write(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOpenLockedFailsFast(t *testing.T) {
	_, path := openTemp(t)
	start := time.Now()
	s, err := Open(path, Options{LockTimeout: 100 * time.Millisecond})
	if err == nil {
		s.Close()
		t.Fatal("second Open of a held database succeeded")
	}
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "database is locked by another process") {
		t.Errorf("error = %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("second Open took %s", d)
	}
}

func TestOpenErrorsNameThePathOnce(t *testing.T) {
	dir := t.TempDir()
	for _, path := range []string{dir, filepath.Join(dir, "missing", "plumb.db")} {
		_, err := Open(path, Options{})
		if err == nil {
			t.Fatalf("Open(%s) succeeded", path)
		}
		if n := strings.Count(err.Error(), path); n != 1 {
			t.Errorf("error %q names the path %d times", err, n)
		}
	}
}

// TestAdoptBaselineAcrossRemap adopts a host's 30,000 facts (30 MB) as its
// baseline in a file small enough that the commit must grow and remap it:
// AdoptBaseline hands bbolt the facts' bytes without copying them, which
// holds only if bbolt copies what its nodes point to before it remaps.
// Every baseline must then equal its fact, read back after a reopen.
func TestAdoptBaselineAcrossRemap(t *testing.T) {
	s, path := openTemp(t)
	ctx := context.Background()
	want := map[string]*plumbv1.Fact{}
	err := s.Update(ctx, func(tx Tx) error {
		for i := range 30000 {
			f := fileFact(fmt.Sprintf("/srv/d%03d/f%05d.conf", i%300, i), fmt.Sprintf("%032d", i))
			f.GetFile().LinkTarget = []byte(strings.Repeat("t", 1000)) // 30 MB of facts
			fact.Seal(f)
			want[string(f.GetKey())] = f
			if err := tx.PutFact("h", f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, func(tx Tx) error {
		n, err := tx.(BaselineAdopter).AdoptBaseline("h")
		if err == nil && n != len(want) {
			err = fmt.Errorf("adopted %d facts, want %d", n, len(want))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if after.Size() <= before.Size() {
		t.Fatalf("the file did not grow (%d → %d bytes): the test did not remap", before.Size(), after.Size())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got := 0
	err = s2.View(ctx, func(tx ReadTx) error {
		return tx.Baselines("h", func(f *plumbv1.Fact) error {
			got++
			if w := want[string(f.GetKey())]; w == nil || !proto.Equal(w, f) {
				return fmt.Errorf("baseline %q = %v, fact %v", f.GetKey(), f, w)
			}
			return nil
		})
	})
	if err != nil || got != len(want) {
		t.Fatalf("%d baselines, want %d (err %v)", got, len(want), err)
	}
}
