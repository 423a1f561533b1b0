package hostpath

import (
	"os"
	"path/filepath"
	"testing"
)

func TestResolve(t *testing.T) {
	root := t.TempDir()
	mk := func(p string) {
		if err := os.MkdirAll(filepath.Join(root, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ln := func(target, p string) {
		if err := os.Symlink(target, filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
	}
	mk("usr/lib/sysimage/rpm")
	mk("var/lib")
	mk("etc")
	ln("../../usr/lib/sysimage/rpm", "var/lib/rpm") // Fedora's relative link
	ln("/usr/lib/sysimage/rpm", "var/lib/rpm-abs")  // absolute: must stay in root
	ln("/../../../..", "etc/escape")                // climbs above root
	ln("loop2", "etc/loop1")
	ln("loop1", "etc/loop2")

	for _, tt := range []struct{ in, want string }{
		{"/var/lib/rpm", "usr/lib/sysimage/rpm"},
		{"/var/lib/rpm-abs", "usr/lib/sysimage/rpm"},
		{"/var/lib/rpm-abs/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite"},
		{"/etc/escape/etc", "etc"},
		{"/../../etc", "etc"},
		{"/var/lib/rpm/../../..", "usr"},
		{"/missing/dir/file", "missing/dir/file"},
		{"/missing/../../../etc", "missing/etc"}, // once the agent's own /etc
		{"/etc/escape/etc/x/../../../..", "etc/x"},
		{"/", ""},
	} {
		got, err := Resolve(root, tt.in)
		if err != nil {
			t.Errorf("Resolve(%q): %v", tt.in, err)
			continue
		}
		if want := filepath.Join(root, tt.want); got != want {
			t.Errorf("Resolve(%q) = %q, want %q", tt.in, got, want)
		}
	}
	if _, err := Resolve(root, "/etc/loop1/x"); err == nil {
		t.Error("hostPath through a symlink loop: want an error")
	}
	if got, _ := Resolve("/", "/var/lib/rpm"); got != "/var/lib/rpm" {
		t.Errorf("hostPath with root / = %q, want the path unchanged", got)
	}
}
