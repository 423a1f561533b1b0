package hostpath

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzResolve resolves arbitrary paths in a small tree whose link "lnk"
// points at an arbitrary target. The result never leaves the root, and
// resolving it again (as a host path) gives it back.
func FuzzResolve(f *testing.F) {
	for _, s := range [][2]string{
		{"/var/lib/rpm", "x"},
		{"/lnk/hosts", "/etc"},
		{"/lnk", "../../../.."},
		{"/missing/../../../etc", "x"},
		{"/etc/hosts/../../..", "x"},
		{"/lnk/../../etc", "missing/../../.."},
		{"/lnk/x", "lnk"},
		{"//./etc/./../var", "."},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, p, target string) {
		if strings.ContainsRune(target, 0) || len(target) > 1024 || len(p) > 4096 {
			return
		}
		root := t.TempDir()
		for _, d := range []string{"etc", "var/lib", "usr/lib/sysimage/rpm"} {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(root, "etc/hosts"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		for link, to := range map[string]string{
			"var/lib/rpm": "../../usr/lib/sysimage/rpm", "etc/abs": "/etc", "etc/up": "../../../..", "lnk": target,
		} {
			if err := os.Symlink(to, filepath.Join(root, link)); err != nil {
				return // a target the kernel refuses
			}
		}
		got, err := Resolve(root, p)
		if err != nil {
			return
		}
		if got != root && !strings.HasPrefix(got, root+"/") {
			t.Fatalf("Resolve(%q) with lnk -> %q = %q: outside the root %q", p, target, got, root)
		}
		again, err := Resolve(root, "/"+strings.TrimPrefix(got, root))
		if err != nil || again != got {
			t.Fatalf("Resolve(%q) = %q, but that resolves to %q, %v", p, got, again, err)
		}
	})
}
