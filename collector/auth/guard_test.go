package auth

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// TestEveryMethodHasAPolicy: each RPC of every plumb.v1 service is either
// open to a role or authenticates itself. A new RPC without a decision is
// refused by the interceptor; this test names it first.
func TestEveryMethodHasAPolicy(t *testing.T) {
	n := 0
	protoregistry.GlobalFiles.RangeFilesByPackage("plumb.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := 0; i < fd.Services().Len(); i++ {
			sd := fd.Services().Get(i)
			for j := 0; j < sd.Methods().Len(); j++ {
				full := "/" + string(sd.FullName()) + "/" + string(sd.Methods().Get(j).Name())
				_, role := methodRoles[full]
				if role == selfAuthenticated[full] {
					t.Errorf("%s: in methodRoles %v, selfAuthenticated %v; want exactly one", full, role, selfAuthenticated[full])
				}
				n++
			}
		}
		return true
	})
	if n < 10 {
		t.Fatalf("found %d methods; is the plumb.v1 registry loaded?", n)
	}
	// Writes need more than viewing.
	for m, r := range methodRoles {
		if strings.Contains(m, "Accept") && r < plumbv1.Role_ROLE_OPERATOR {
			t.Errorf("%s open to %v", m, r)
		}
		if strings.Contains(m, "AdminService") && r != plumbv1.Role_ROLE_ADMIN {
			t.Errorf("%s open to %v", m, r)
		}
	}
}

func TestSecretsRoundTrip(t *testing.T) {
	tok, id, hash, err := newSecret(kindAPI)
	if err != nil {
		t.Fatal(err)
	}
	gotID, gotHash, err := parseSecret(kindAPI, tok+"\n")
	if err != nil || gotID != id || !sameHash(gotHash, hash) {
		t.Fatalf("parse %q: %v %v %v", tok, gotID, gotHash, err)
	}
	if _, _, err := parseSecret(kindJoin, tok); err == nil || !strings.Contains(err.Error(), "API token") {
		t.Errorf("API token taken as a join token: %v", err)
	}
	for _, bad := range []string{"", "pat", "pat..", "pat.0123456789abcdef.short", "pat.zz23456789abcdef." + strings.Repeat("A", 43),
		"pat.0123456789abcdef." + strings.Repeat("A", 43) + ".x", strings.Repeat("x", 4096)} {
		if _, _, err := parseSecret(kindAPI, bad); err == nil {
			t.Errorf("parseSecret(%.40q) accepted", bad)
		}
	}
}

func FuzzParseSecret(f *testing.F) {
	tok, _, _, _ := newSecret(kindJoin)
	f.Add(tok)
	f.Add("pat.0123456789abcdef." + strings.Repeat("A", 43))
	f.Fuzz(func(t *testing.T, s string) {
		id, hash, err := parseSecret(kindJoin, s)
		if err != nil {
			return
		}
		if len(id) != 16 || len(hash) != 32 {
			t.Fatalf("parsed %q into id %q, hash of %d bytes", s, id, len(hash))
		}
	})
}

func TestValidHostID(t *testing.T) {
	for _, ok := range []string{"web1", "3d1219c7c4c5404aaa1f6d2a48adfda4", "db-1.example.com", "a:b_c"} {
		if err := ValidHostID(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", strings.Repeat("a", 254), "a b", "a\x1b[31m", "a/b", "é", "a\n"} {
		if err := ValidHostID(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
