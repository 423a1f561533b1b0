package pkgfact_test

import (
	"crypto/md5"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source/pkgfact"
	"github.com/plumb-dev/plumb/agent/source/sourcetest"
	"github.com/plumb-dev/plumb/pkg/fact"
)

func TestConffile(t *testing.T) {
	root := t.TempDir()
	put := func(rel, content string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	put("etc/app.conf", "a=1\n")
	put("usr/share/app/shared.conf", "s=1\n")
	// An absolute link resolves inside the root, as on the host.
	if err := os.Symlink("/usr/share/app/shared.conf", filepath.Join(root, "etc/shared.conf")); err != nil {
		t.Fatal(err)
	}
	md5sum := func(s string) []byte { h := md5.Sum([]byte(s)); return h[:] }
	sha := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
	log := sourcetest.Logger(t)

	for _, tt := range []struct {
		name             string
		r                pkgfact.Recorded
		present, matches bool
	}{
		{"matching md5", pkgfact.Recorded{Path: "/etc/app.conf", Algorithm: "md5", Digest: md5sum("a=1\n")}, true, true},
		{"edited", pkgfact.Recorded{Path: "/etc/app.conf", Algorithm: "sha256", Digest: sha("a=0\n")}, true, false},
		{"through an absolute link", pkgfact.Recorded{Path: "/etc/shared.conf", Algorithm: "sha256", Digest: sha("s=1\n")}, true, true},
		{"missing", pkgfact.Recorded{Path: "/etc/gone.conf", Algorithm: "md5", Digest: md5sum("")}, false, false},
		{"a directory", pkgfact.Recorded{Path: "/etc", Algorithm: "md5", Digest: md5sum("")}, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.r.Package, tt.r.Manager = "app:all", "dpkg"
			f, ok := pkgfact.Conffile(log, root, tt.r, 7)
			if !ok {
				t.Fatal("Conffile: not ok")
			}
			c := f.GetConffile()
			if c.GetPresent() != tt.present || c.GetMatches() != tt.matches {
				t.Errorf("present %v matches %v, want %v %v", c.GetPresent(), c.GetMatches(), tt.present, tt.matches)
			}
			if string(f.GetKey()) != tt.r.Path || c.GetPackage() != "app:all" || c.GetManager() != "dpkg" ||
				c.GetAlgorithm() != tt.r.Algorithm || string(c.GetDigest()) != string(tt.r.Digest) || f.GetObservedUnixNano() != 7 {
				t.Errorf("fact %v does not carry what was recorded", f)
			}
			if string(f.GetDigest()) != string(fact.Digest(f)) {
				t.Error("fact not sealed")
			}
		})
	}
	if _, ok := pkgfact.Conffile(log, root, pkgfact.Recorded{Path: "/etc/app.conf", Algorithm: "crc32"}, 0); ok {
		t.Error("Conffile with an algorithm Plumb does not compute: want not ok")
	}
}

func TestPackageAndScopes(t *testing.T) {
	f := pkgfact.Package("bash.x86_64", &plumbv1.PackageAttrs{Version: "5.2-1", Arch: "x86_64", Manager: "rpm"}, 9)
	if f.GetKind() != plumbv1.FactKind_FACT_KIND_PACKAGE || string(f.GetKey()) != "bash.x86_64" ||
		f.GetPackage().GetVersion() != "5.2-1" || f.GetObservedUnixNano() != 9 || string(f.GetDigest()) != string(fact.Digest(f)) {
		t.Errorf("Package fact %v", f)
	}
	k := fact.KeyOf(f)
	if !pkgfact.PackageScope("rpm").Contains(k, f) || pkgfact.PackageScope("dpkg").Contains(k, f) || pkgfact.ConffileScope("rpm").Contains(k, f) {
		t.Error("scopes do not tell managers and kinds apart")
	}
}
