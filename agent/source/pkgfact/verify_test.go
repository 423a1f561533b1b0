package pkgfact_test

import (
	"crypto/md5"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/plumb-dev/plumb/agent/source/pkgfact"
	"github.com/plumb-dev/plumb/agent/source/sourcetest"
)

func md5Of(s string) []byte { h := md5.Sum([]byte(s)); return h[:] }

// tree writes files (host path -> content) under a new root.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func paths(bs [][]byte) []string {
	out := []string{}
	for _, b := range bs {
		out = append(out, string(b))
	}
	return out
}

func TestVerifyClassifies(t *testing.T) {
	root := tree(t, map[string]string{
		"/usr/share/app/same":   "same\n",
		"/usr/share/app/edited": "edited by hand\n",
		"/etc/app.conf":         "conf\n",
		"/outside":              "secret\n",
		"/real/lib/x.so":        "lib\n",
	})
	// A directory where a file was recorded; a symlink (even one whose
	// target matches) where a file was recorded; a link out of the root
	// that must not be followed; a fifo that must not block the check; a
	// directory symlink (merged /usr) that is followed inside the root.
	if err := os.Mkdir(filepath.Join(root, "usr/share/app/dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/usr/share/app/same", filepath.Join(root, "usr/share/app/link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "usr/share/app/escape")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(root, "usr/share/app/fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real/lib", filepath.Join(root, "lib")); err != nil {
		t.Fatal(err)
	}
	sha := sha256.Sum256([]byte("conf\n"))
	files := []pkgfact.File{
		{Path: "/usr/share/app/same", Algorithm: "md5", Digest: md5Of("same\n")},
		{Path: "/usr/share/app/edited", Algorithm: "md5", Digest: md5Of("as packaged\n")},
		{Path: "/usr/share/app/gone", Algorithm: "md5", Digest: md5Of("x")},
		{Path: "/usr/share/app/dir", Algorithm: "md5", Digest: md5Of("")},
		{Path: "/usr/share/app/link", Algorithm: "md5", Digest: md5Of("same\n")},
		{Path: "/usr/share/app/escape", Algorithm: "md5", Digest: md5Of("root:x:0:0\n")},
		{Path: "/usr/share/app/fifo", Algorithm: "md5", Digest: md5Of("")},
		{Path: "/lib/x.so", Algorithm: "md5", Digest: md5Of("lib\n")},
		{Path: "/etc/app.conf", Algorithm: "sha256", Digest: sha[:]},
		// The first entry of a path wins; the second is not counted.
		{Path: "/etc/app.conf", Algorithm: "md5", Digest: md5Of("other")},
		// An algorithm Plumb cannot compute, and no digest: not checkable.
		{Path: "/usr/share/app/crc", Algorithm: "crc32", Digest: []byte{1}},
		{Path: "/usr/share/app/nodigest", Algorithm: "md5"},
		{Path: "/usr/share/app/../../../../outside", Algorithm: "md5", Digest: md5Of("secret\n")},
	}
	ch := pkgfact.Change{Package: "app:amd64", OldVersion: "1.0", NewVersion: "1.1", Manager: "dpkg"}
	got := pkgfact.Verify(sourcetest.Logger(t), root, ch, files, pkgfact.DefaultLimits())
	if got.GetPackage() != "app:amd64" || got.GetOldVersion() != "1.0" || got.GetNewVersion() != "1.1" || got.GetManager() != "dpkg" {
		t.Errorf("change %v does not name the package and versions", got)
	}
	if got.GetFiles() != 10 || got.GetTruncated() {
		t.Errorf("files %d truncated %v, want 10 checkable files, not truncated", got.GetFiles(), got.GetTruncated())
	}
	// "/usr/share/app/../../../../outside" is a path inside the root
	// (/outside there), never this machine's.
	want := map[string][]string{
		"matched":    {"/etc/app.conf", "/lib/x.so", "/usr/share/app/../../../../outside", "/usr/share/app/same"},
		"mismatched": {"/usr/share/app/dir", "/usr/share/app/edited", "/usr/share/app/escape", "/usr/share/app/fifo", "/usr/share/app/link"},
		"missing":    {"/usr/share/app/gone"},
	}
	gotLists := map[string][]string{"matched": paths(got.GetMatched()), "mismatched": paths(got.GetMismatched()), "missing": paths(got.GetMissing())}
	if d := cmp.Diff(want, gotLists); d != "" {
		t.Errorf("classification (-want +got):\n%s", d)
	}
}

func TestVerifyBounds(t *testing.T) {
	content := map[string]string{}
	var files []pkgfact.File
	for i := range 10 {
		p := fmt.Sprintf("/data/f%02d", i)
		content[p] = fmt.Sprintf("%0100d", i) // 100 bytes each
		files = append(files, pkgfact.File{Path: p, Algorithm: "md5", Digest: md5Of(content[p])})
	}
	root := tree(t, content)
	log := sourcetest.Logger(t)
	for _, tt := range []struct {
		name   string
		lim    pkgfact.Limits
		listed int
		trunc  bool
	}{
		{"within every bound", pkgfact.Limits{MaxPaths: 10, MaxPathBytes: 90, MaxHashBytes: 1000}, 10, false},
		{"paths", pkgfact.Limits{MaxPaths: 4, MaxPathBytes: 1 << 10, MaxHashBytes: 1 << 20}, 4, true},
		{"path bytes", pkgfact.Limits{MaxPaths: 100, MaxPathBytes: 7*9 + 8, MaxHashBytes: 1 << 20}, 7, true},
		{"hashed bytes", pkgfact.Limits{MaxPaths: 100, MaxPathBytes: 1 << 10, MaxHashBytes: 350}, 3, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := pkgfact.Verify(log, root, pkgfact.Change{Package: "p"}, files, tt.lim)
			if n := len(got.GetMatched()); n != tt.listed || len(got.GetMismatched())+len(got.GetMissing()) != 0 {
				t.Errorf("listed %d matched, %d other; want %d matched", n, len(got.GetMismatched())+len(got.GetMissing()), tt.listed)
			}
			if got.GetTruncated() != tt.trunc || got.GetFiles() != 10 {
				t.Errorf("truncated %v files %d, want %v and 10", got.GetTruncated(), got.GetFiles(), tt.trunc)
			}
		})
	}
}
