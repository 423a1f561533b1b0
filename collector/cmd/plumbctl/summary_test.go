package main

import (
	"testing"

	"google.golang.org/grpc/codes"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

func TestSummary(t *testing.T) {
	file := func(fa *plumbv1.FileAttrs) *plumbv1.Fact {
		return &plumbv1.Fact{Attrs: &plumbv1.Fact_File{File: fa}}
	}
	conffile := func(present, matches bool) *plumbv1.Fact {
		return &plumbv1.Fact{Attrs: &plumbv1.Fact_Conffile{Conffile: &plumbv1.ConffileAttrs{
			Package: "nginx:amd64", Algorithm: "md5", Present: present, Matches: matches,
		}}}
	}
	value := func(v string) *plumbv1.Fact {
		return &plumbv1.Fact{Attrs: &plumbv1.Fact_Value{Value: &plumbv1.ValueAttrs{Value: v}}}
	}
	tests := []struct {
		name string
		f    *plumbv1.Fact
		want string
	}{
		{"regular", file(&plumbv1.FileAttrs{Type: plumbv1.FileType_FILE_TYPE_REGULAR, Mode: 0o644, Size: 1234}), "regular 0644 0:0 1234B"},
		{"setuid", file(&plumbv1.FileAttrs{Type: plumbv1.FileType_FILE_TYPE_REGULAR, Mode: 0o4755, Uid: 0, Gid: 50, Size: 7}), "regular 4755 0:50 7B"},
		{"symlink not utf-8", file(&plumbv1.FileAttrs{Type: plumbv1.FileType_FILE_TYPE_SYMLINK, Mode: 0o777, LinkTarget: []byte("caf\xe9")}), `symlink 0777 0:0 -> caf\xe9`},
		{"fifo", file(&plumbv1.FileAttrs{Type: plumbv1.FileType_FILE_TYPE_FIFO, Mode: 0o600, Uid: 1, Gid: 2}), "fifo 0600 1:2"},
		{"package", &plumbv1.Fact{Attrs: &plumbv1.Fact_Package{Package: &plumbv1.PackageAttrs{Version: "1.24.0-1", Arch: "amd64"}}}, "1.24.0-1 amd64"},
		{"package no arch", &plumbv1.Fact{Attrs: &plumbv1.Fact_Package{Package: &plumbv1.PackageAttrs{Version: "2.0"}}}, "2.0"},
		{"conffile matches", conffile(true, true), "nginx:amd64 md5 matches"},
		{"conffile modified", conffile(true, false), "nginx:amd64 md5 modified"},
		{"conffile missing", conffile(false, false), "nginx:amd64 md5 missing"},
		{"cmdline with tab", value("quiet\tsplash\n"), `quiet\x09splash\x0a`},
		{"kmod", &plumbv1.Fact{Attrs: &plumbv1.Fact_Kmod{Kmod: &plumbv1.KmodAttrs{Size: 16384}}}, "16384B"},
		{"no attributes", &plumbv1.Fact{}, ""},
	}
	for _, tt := range tests {
		if got := summary(tt.f); got != tt.want {
			t.Errorf("%s: summary = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestCodeWords(t *testing.T) {
	for c, want := range map[codes.Code]string{
		codes.NotFound:           "not found",
		codes.Unavailable:        "unavailable",
		codes.DeadlineExceeded:   "deadline exceeded",
		codes.PermissionDenied:   "permission denied",
		codes.FailedPrecondition: "failed precondition",
	} {
		if got := codeWords(c); got != want {
			t.Errorf("codeWords(%v) = %q, want %q", c, got, want)
		}
	}
}
