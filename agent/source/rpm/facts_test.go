package rpm

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	rpmdb "github.com/knqyf263/go-rpmdb/pkg"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

func TestFromInfo(t *testing.T) {
	epoch := 3
	in := &rpmdb.PackageInfo{
		Name: "nginx", Epoch: &epoch, Version: "1.24.0", Release: "1.el9", Arch: "x86_64",
		DigestAlgorithm: rpmdb.PGPHASHALGO_SHA256,
		DirNames:        []string{"/etc/nginx", "/usr/sbin", "/etc"},
		DirIndexes:      []int32{0, 0, 1, 0, 2, 0},
		BaseNames:       []string{"nginx.conf", "mime.types", "nginx", "conf.d", "logrotate.conf", "ghost.conf"},
		FileDigests:     []string{"aa", "bb", "cc", "", "dd", ""},
		FileModes:       []uint16{0o100644, 0o100644, 0o100755, 0o040755, 0o120777, 0o100644},
		FileFlags: []int32{
			rpmdb.RPMFILE_CONFIG | rpmdb.RPMFILE_NOREPLACE,
			rpmdb.RPMFILE_CONFIG,
			0,
			rpmdb.RPMFILE_CONFIG, // a %config directory: no digest
			rpmdb.RPMFILE_CONFIG, // a %config symlink: not a regular file
			rpmdb.RPMFILE_CONFIG | rpmdb.RPMFILE_GHOST,
		},
	}
	got, err := fromInfo(in)
	if err != nil {
		t.Fatal(err)
	}
	want := Package{Name: "nginx", Arch: "x86_64", Version: "1.24.0", Release: "1.el9", EVR: "3:1.24.0-1.el9", Conffiles: []Conffile{
		{Path: "/etc/nginx/nginx.conf", Algorithm: "sha256", Digest: "aa"},
		{Path: "/etc/nginx/mime.types", Algorithm: "sha256", Digest: "bb"},
	}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("fromInfo (-want +got):\n%s", d)
	}

	// No epoch, no recorded digest algorithm: md5.
	got, err = fromInfo(&rpmdb.PackageInfo{Name: "old", Version: "1", Release: "2", Arch: "i386",
		DirNames: []string{"/etc"}, DirIndexes: []int32{0}, BaseNames: []string{"old.conf"},
		FileDigests: []string{"ee"}, FileModes: []uint16{0o100600}, FileFlags: []int32{rpmdb.RPMFILE_CONFIG}})
	if err != nil {
		t.Fatal(err)
	}
	if got.EVR != "1-2" || len(got.Conffiles) != 1 || got.Conffiles[0].Algorithm != "md5" {
		t.Errorf("fromInfo without epoch and algorithm = %+v, want EVR 1-2 and one md5 conffile", got)
	}

	// A header whose file tables disagree is an error, not a guess.
	if _, err := fromInfo(&rpmdb.PackageInfo{Name: "bad", DirNames: []string{"/a"}, DirIndexes: []int32{5}, BaseNames: []string{"x"}}); err == nil {
		t.Error("fromInfo with a dir index out of range: want an error")
	}
}

func TestPackageFacts(t *testing.T) {
	pkgs := []Package{
		{Name: "bash", Arch: "x86_64", Version: "5.1", Release: "1", EVR: "5.1-1"},
		{Name: "kernel-core", Arch: "x86_64", EVR: "5.14.0-70"},
		{Name: "kernel-core", Arch: "x86_64", EVR: "5.14.0-162"},
		{Name: "glibc", Arch: "i686", EVR: "2.34-1"},
		{Name: "glibc", Arch: "x86_64", EVR: "2.34-1"},
		{Name: "gpg-pubkey", Version: "fd431d51", Release: "4ae0493b", EVR: "fd431d51-4ae0493b"},
		{Name: "gpg-pubkey", Version: "5a6340b3", Release: "6229229e", EVR: "5a6340b3-6229229e"},
		{Name: "noarch-less", EVR: "1-1"},
	}
	got := map[string][2]string{}
	for k, f := range packageFacts(pkgs, 1) {
		if k.Kind != plumbv1.FactKind_FACT_KIND_PACKAGE || f.GetPackage().GetManager() != "rpm" {
			t.Errorf("fact %s: kind %v manager %q", k, k.Kind, f.GetPackage().GetManager())
		}
		got[k.ID] = [2]string{f.GetPackage().GetVersion(), f.GetPackage().GetArch()}
	}
	want := map[string][2]string{
		"bash.x86_64":                  {"5.1-1", "x86_64"},
		"kernel-core.x86_64":           {"5.14.0-162, 5.14.0-70", "x86_64"},
		"glibc.i686":                   {"2.34-1", "i686"},
		"glibc.x86_64":                 {"2.34-1", "x86_64"},
		"gpg-pubkey-fd431d51-4ae0493b": {"fd431d51-4ae0493b", ""},
		"gpg-pubkey-5a6340b3-6229229e": {"5a6340b3-6229229e", ""},
		"noarch-less":                  {"1-1", ""},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("packageFacts (-want +got):\n%s", d)
	}
}

func TestConffileFacts(t *testing.T) {
	root := t.TempDir()
	content := []byte("listen 80;\n")
	sum := sha256.Sum256(content)
	if err := os.MkdirAll(filepath.Join(root, "etc/nginx"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/nginx/nginx.conf"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/nginx/edited.conf"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	hexSum := hex.EncodeToString(sum[:])
	pkgs := []Package{
		{Name: "nginx", Arch: "x86_64", EVR: "1-1", Conffiles: []Conffile{
			{Path: "/etc/nginx/nginx.conf", Algorithm: "sha256", Digest: hexSum},
			{Path: "/etc/nginx/edited.conf", Algorithm: "sha256", Digest: hexSum},
			{Path: "/etc/nginx/missing.conf", Algorithm: "sha256", Digest: hexSum},
			{Path: "/etc/nginx/odd.conf", Algorithm: "tiger192", Digest: hexSum},
		}},
		// The multilib twin lists the same file; the first key owns it.
		{Name: "nginx", Arch: "i686", EVR: "1-1", Conffiles: []Conffile{
			{Path: "/etc/nginx/nginx.conf", Algorithm: "sha256", Digest: hexSum},
		}},
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	got := conffileFacts(log, root, pkgs, 1)
	type row struct {
		Pkg, Alg         string
		Present, Matches bool
	}
	want := map[string]row{
		"/etc/nginx/nginx.conf":   {"nginx.i686", "sha256", true, true},
		"/etc/nginx/edited.conf":  {"nginx.x86_64", "sha256", true, false},
		"/etc/nginx/missing.conf": {"nginx.x86_64", "sha256", false, false},
	}
	gotRows := map[string]row{}
	for k, f := range got {
		c := f.GetConffile()
		gotRows[k.ID] = row{c.GetPackage(), c.GetAlgorithm(), c.GetPresent(), c.GetMatches()}
		if hex.EncodeToString(c.GetDigest()) != hexSum || c.GetManager() != "rpm" {
			t.Errorf("%s: digest %x manager %q", k.ID, c.GetDigest(), c.GetManager())
		}
		if string(f.GetDigest()) != string(fact.Digest(f)) {
			t.Errorf("%s: not sealed", k.ID)
		}
	}
	if d := cmp.Diff(want, gotRows); d != "" {
		t.Errorf("conffileFacts (-want +got):\n%s", d)
	}
}
