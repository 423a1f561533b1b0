package dpkg

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseStatusFixture(t *testing.T) {
	f, err := os.Open("testdata/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ParseStatus(f)
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{
		{Name: "alpha", Arch: "amd64", Version: "1.0-1", Want: "install", Flag: "ok", State: "installed", Conffiles: []Conffile{
			{Path: "/etc/alpha/alpha.conf", MD5: "1c072bbfe3aaaf4a81ffaae509a1cc4a"},
			{Path: "/etc/alpha/old.conf", MD5: "0123456789abcdef0123456789abcdef", Obsolete: true},
			{Path: "/etc/alpha/going.conf", MD5: "0123456789abcdef0123456789abcdef", RemoveOnUpgrade: true},
			{Path: "/etc/alpha/with space.conf", MD5: "b2e701d0d92ed91d9d78888cda58bdf1"},
			{Path: "/etc/alpha/missing.conf", MD5: "0123456789abcdef0123456789abcdef"},
		}},
		{Name: "beta", Arch: "all", Version: "2:2.5~rc1-3", Want: "hold", Flag: "ok", State: "installed"},
		{Name: "gone", Arch: "amd64", Version: "0.9", Want: "deinstall", Flag: "ok", State: "config-files", Conffiles: []Conffile{
			{Path: "/etc/gone.conf", MD5: "0123456789abcdef0123456789abcdef"},
		}},
		{Name: "never", Arch: "amd64", Want: "purge", Flag: "ok", State: "not-installed"},
		{Name: "libshared", Arch: "amd64", Version: "3.1", Want: "install", Flag: "ok", State: "installed", Conffiles: []Conffile{
			{Path: "/etc/shared.conf", MD5: "aefa4cd5bad0f45f2fe205e42247c199"},
		}},
		{Name: "libshared", Arch: "i386", Version: "3.1", Want: "install", Flag: "ok", State: "installed", Conffiles: []Conffile{
			{Path: "/etc/shared.conf", MD5: "aefa4cd5bad0f45f2fe205e42247c199"},
		}},
		{Name: "fresh", Arch: "amd64", Version: "0.1", Want: "install", Flag: "ok", State: "unpacked", Conffiles: []Conffile{
			{Path: "/etc/fresh.conf", MD5: "newconffile"},
		}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ParseStatus mismatch (-want +got):\n%s", d)
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Package
		wantErr string
	}{
		{name: "empty", in: "", want: nil},
		{name: "blank lines only", in: "\n\n  \n", want: nil},
		{
			name: "no trailing newline",
			in:   "Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1",
			want: []Package{{Name: "a", Arch: "amd64", Version: "1", Want: "install", Flag: "ok", State: "installed"}},
		},
		{
			name: "field names are case-insensitive and values trimmed",
			in:   "package:  a \nSTATUS: install ok installed\narchitecture:amd64\nversion: 1\n",
			want: []Package{{Name: "a", Arch: "amd64", Version: "1", Want: "install", Flag: "ok", State: "installed"}},
		},
		{
			name: "several blank lines between records",
			in:   "Package: a\n\n\n\nPackage: b\n",
			want: []Package{{Name: "a"}, {Name: "b"}},
		},
		{
			name: "record without Package is skipped",
			in:   "Status: install ok installed\n\nPackage: b\n",
			want: []Package{{Name: "b"}},
		},
		{
			name: "tab continuation and conffile after another field",
			in:   "Package: a\nConffiles:\n\t/etc/a 0123456789abcdef0123456789abcdef\nDescription: x\n more\n",
			want: []Package{{Name: "a", Conffiles: []Conffile{{Path: "/etc/a", MD5: "0123456789abcdef0123456789abcdef"}}}},
		},
		{
			name: "newconffile with remove-on-upgrade",
			in:   "Package: a\nConffiles:\n /etc/a newconffile remove-on-upgrade\n",
			want: []Package{{Name: "a", Conffiles: []Conffile{{Path: "/etc/a", MD5: "newconffile", RemoveOnUpgrade: true}}}},
		},
		{
			name: "CRLF line ends",
			in:   "Package: a\r\nVersion: 1\r\n\r\nPackage: b\r\n",
			want: []Package{{Name: "a", Version: "1"}, {Name: "b"}},
		},
		{name: "continuation first", in: " oops\n", wantErr: "continuation line outside a field"},
		{name: "line without colon", in: "Package: a\nnot a field\n", wantErr: "line 2"},
		{name: "bad status", in: "Package: a\nStatus: installed\n", wantErr: "want three words"},
		{name: "conffile without hash", in: "Package: a\nConffiles:\n /etc/a\n", wantErr: "want \"path hash"},
		{name: "conffile with only flags", in: "Package: a\nConffiles:\n obsolete\n", wantErr: "want \"path hash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStatus(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("mismatch (-want +got):\n%s", d)
			}
		})
	}
}

func TestParseStatusLongLine(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	got, err := ParseStatus(strings.NewReader("Package: a\nDescription: " + long + "\nVersion: 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Version != "2" {
		t.Fatalf("got %+v, want one package with version 2", got)
	}
}

func TestInstalledAndTracked(t *testing.T) {
	for state, want := range map[string]bool{
		"installed": true, "triggers-pending": true, "triggers-awaited": true,
		"half-configured": true, "unpacked": true, "half-installed": true,
		"config-files": false, "not-installed": false, "": false,
	} {
		if got := (Package{State: state}).Installed(); got != want {
			t.Errorf("Installed(%q) = %v, want %v", state, got, want)
		}
	}
	for _, tt := range []struct {
		c    Conffile
		want bool
	}{
		{Conffile{MD5: "0123456789abcdef0123456789ABCDEF"}, true},
		{Conffile{MD5: "newconffile"}, false},
		{Conffile{MD5: "0123"}, false},
		{Conffile{MD5: "0123456789abcdef0123456789abcdeg"}, false},
		{Conffile{MD5: "0123456789abcdef0123456789abcdef", Obsolete: true}, false},
		{Conffile{MD5: "0123456789abcdef0123456789abcdef", RemoveOnUpgrade: true}, false},
	} {
		if got := tt.c.Tracked(); got != tt.want {
			t.Errorf("Tracked(%+v) = %v, want %v", tt.c, got, tt.want)
		}
	}
}

func TestOverlay(t *testing.T) {
	db := []Package{{Name: "a", Arch: "amd64", Version: "1"}, {Name: "b", Arch: "all", Version: "1"}}
	j := []Package{{Name: "b", Arch: "all", Version: "2"}, {Name: "a", Arch: "i386", Version: "1"}}
	got := overlay(db, j)
	want := []Package{{Name: "a", Arch: "amd64", Version: "1"}, {Name: "b", Arch: "all", Version: "2"}, {Name: "a", Arch: "i386", Version: "1"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("overlay mismatch (-want +got):\n%s", d)
	}
}

func TestJournalOrder(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"0010", "0002", "tmp.i", "0001", "10000"} {
		if err := os.WriteFile(dir+"/"+n, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := journalFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"0001", "0002", "0010", "10000"}, got); d != "" {
		t.Errorf("journalFiles (-want +got):\n%s", d)
	}
	if got, err := journalFiles(dir + "/missing"); err != nil || got != nil {
		t.Errorf("journalFiles(missing) = %v, %v; want nil, nil", got, err)
	}
}
