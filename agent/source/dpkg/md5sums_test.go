package dpkg

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/plumb-dev/plumb/agent/source/pkgfact"
)

const (
	md5a = "0123456789abcdef0123456789abcdef"
	md5b = "fedcba9876543210FEDCBA9876543210"
)

func file(p, hexDigest string) pkgfact.File {
	d, err := hex.DecodeString(hexDigest)
	if err != nil {
		panic(err)
	}
	return pkgfact.File{Path: p, Algorithm: "md5", Digest: d}
}

func TestParseMD5Sums(t *testing.T) {
	for _, tt := range []struct {
		name    string
		in      string
		want    []pkgfact.File
		skipped int
	}{
		{"empty", "", nil, 0},
		{"two files", md5a + "  usr/bin/app\n" + md5b + "  usr/share/doc/app/copyright\n",
			[]pkgfact.File{file("/usr/bin/app", md5a), file("/usr/share/doc/app/copyright", md5b)}, 0},
		{"no final newline, CRLF kept as part of the name", md5a + "  etc/x\r\n" + md5a + "  a b  c",
			[]pkgfact.File{file("/etc/x\r", md5a), file("/a b  c", md5a)}, 0},
		{"cleaned: no escape from the root", md5a + "  ../../etc/shadow\n" + md5a + "  ./usr//lib/\n",
			[]pkgfact.File{file("/etc/shadow", md5a), file("/usr/lib", md5a)}, 0},
		{"not UTF-8", md5a + "  usr/\xff\xfe\n", []pkgfact.File{file("/usr/\xff\xfe", md5a)}, 0},
		{"malformed lines skipped", strings.Join([]string{
			md5a + " one-space",
			md5a[:31] + "  short",
			strings.Replace(md5a, "0", "g", 1) + "  not-hex",
			md5a + "  ",
			md5a + "\tusr/tab",
			"",
			md5b + "  ok",
		}, "\n"), []pkgfact.File{file("/ok", md5b)}, 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, skipped, err := ParseMD5Sums(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" || skipped != tt.skipped {
				t.Errorf("skipped %d (want %d); files (-want +got):\n%s", skipped, tt.skipped, d)
			}
		})
	}
	if _, _, err := ParseMD5Sums(strings.NewReader(md5a + "  " + strings.Repeat("x", maxMD5SumsLine))); err == nil {
		t.Error("a line over the bound: want an error")
	}
}

// FuzzParseMD5Sums parses arbitrary md5sums files: no panic, every path
// absolute and clean, every digest 16 bytes, and what parses, written
// back out, parses to the same files.
func FuzzParseMD5Sums(f *testing.F) {
	for _, s := range []string{
		"", "\n", md5a + "  usr/bin/app\n", md5a + "  ../x\n" + md5b + "  /abs\n",
		md5a + " *binary\n", md5a + "  a\r\n", strings.Repeat(md5a+"  d/f\n", 3),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		files, _, err := ParseMD5Sums(bytes.NewReader(data))
		if err != nil {
			return
		}
		var out bytes.Buffer
		for _, x := range files {
			if !strings.HasPrefix(x.Path, "/") || filepath.Clean(x.Path) != x.Path || len(x.Digest) != 16 || x.Algorithm != "md5" {
				t.Fatalf("%q: file %+v", data, x)
			}
			fmt.Fprintf(&out, "%x  %s\n", x.Digest, x.Path[1:])
		}
		again, skipped, err := ParseMD5Sums(&out)
		if err != nil || skipped != 0 {
			t.Fatalf("%q parsed, written as %q: %v, %d skipped", data, out.String(), err, skipped)
		}
		if len(files) == 0 {
			files = nil
		}
		if d := cmp.Diff(files, again); d != "" {
			t.Fatalf("%q: round trip (-first +again):\n%s", data, d)
		}
	})
}

func TestPackageFiles(t *testing.T) {
	info := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(info, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("plain.md5sums", md5a+"  usr/bin/plain\n")
	write("same:amd64.md5sums", md5a+"  usr/lib/x86_64-linux-gnu/libsame.so\n")
	write("same.md5sums", md5b+"  wrong/one\n")
	conf := []Conffile{
		{Path: "/etc/plain.conf", MD5: md5b},
		{Path: "/etc/new.conf", MD5: "newconffile"},
		{Path: "/etc/old.conf", MD5: md5a, Obsolete: true},
	}
	for _, tt := range []struct {
		p    Package
		want []pkgfact.File
	}{
		{Package{Name: "plain", Arch: "amd64", Conffiles: conf},
			[]pkgfact.File{file("/etc/plain.conf", md5b), file("/usr/bin/plain", md5a)}},
		{Package{Name: "same", Arch: "amd64"}, []pkgfact.File{file("/usr/lib/x86_64-linux-gnu/libsame.so", md5a)}},
		{Package{Name: "none", Arch: "all", Conffiles: conf[:1]}, []pkgfact.File{file("/etc/plain.conf", md5b)}},
	} {
		got, err := packageFiles(info, tt.p)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("packageFiles(%s) (-want +got):\n%s", tt.p.Key(), d)
		}
	}
	write("big.md5sums", strings.Repeat("x", maxMD5SumsBytes+1))
	if _, err := packageFiles(info, Package{Name: "big", Arch: "all"}); err == nil {
		t.Error("an md5sums file over the bound: want an error")
	}
}
