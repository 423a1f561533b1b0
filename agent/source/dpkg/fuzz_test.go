package dpkg

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// encodeStatus writes pkgs back in the status file's form.
func encodeStatus(pkgs []Package) []byte {
	var b bytes.Buffer
	for _, p := range pkgs {
		fmt.Fprintf(&b, "Package: %s\n", p.Name)
		if p.Want != "" {
			fmt.Fprintf(&b, "Status: %s %s %s\n", p.Want, p.Flag, p.State)
		}
		fmt.Fprintf(&b, "Architecture: %s\nVersion: %s\n", p.Arch, p.Version)
		if len(p.Conffiles) > 0 {
			b.WriteString("Conffiles:\n")
			for _, c := range p.Conffiles {
				fmt.Fprintf(&b, " %s %s", c.Path, c.MD5)
				if c.Obsolete {
					b.WriteString(" obsolete")
				}
				if c.RemoveOnUpgrade {
					b.WriteString(" remove-on-upgrade")
				}
				b.WriteString("\n")
			}
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}

// FuzzParseStatus parses arbitrary status files: no panic, and what
// parses, written back out, parses to the same packages.
func FuzzParseStatus(f *testing.F) {
	for _, name := range []string{"status", "status-journal-0000"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"", "\n\n", " continuation\n", "no colon\n", ":\n",
		"Package: a\nStatus: install ok\n",
		"Package: a\r\nStatus: install ok installed\r\nConffiles:\r\n /etc/a b c 0123456789abcdef0123456789abcdef obsolete\r\n",
		"Package: a\nConffiles: /etc/x newconffile\n /etc/y remove-on-upgrade\n",
		"Package: a\nConffiles:\n \t\n",
		"package: A\nARCHITECTURE: all\nVersion: 1:2.3-4\n\nPackage:\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, err := ParseStatus(bytes.NewReader(data))
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
			return
		}
		for _, p := range pkgs {
			if p.Name == "" {
				t.Fatalf("package without a name: %+v", p)
			}
		}
		out := encodeStatus(pkgs)
		again, err := ParseStatus(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("%q parsed, written as %q, fails: %v", data, out, err)
		}
		if !reflect.DeepEqual(pkgs, again) {
			t.Fatalf("%q parsed as %+v, written as %q, parsed as %+v", data, pkgs, out, again)
		}
	})
}
