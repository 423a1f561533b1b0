package golden

import (
	"strings"
	"testing"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

func fileKey(p string) fact.Key { return fact.Key{Kind: plumbv1.FactKind_FACT_KIND_FILE, ID: p} }

func TestExclusions(t *testing.T) {
	x, err := Config{Exclude: []RuleConfig{{Kind: "kernel", Key: "cmdline"}}}.Parse()
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[fact.Key]bool{
		fileKey("/etc/hostname"):                                       true,
		fileKey("/etc/ssh/ssh_host_ed25519_key.pub"):                   true,
		fileKey("/etc/ssh/sshd_config"):                                false,
		fileKey("/etc/nginx/nginx.conf"):                               false,
		{Kind: plumbv1.FactKind_FACT_KIND_KERNEL, ID: "cmdline"}:       true,
		{Kind: plumbv1.FactKind_FACT_KIND_KERNEL, ID: "release"}:       false,
		{Kind: plumbv1.FactKind_FACT_KIND_HEALTH, ID: "reporting"}:     true,
		{Kind: plumbv1.FactKind_FACT_KIND_SYSCTL, ID: "/etc/hostname"}: false,
	} {
		if got := x.Excludes(k); got != want {
			t.Errorf("Excludes(%s) = %v, want %v", k, got, want)
		}
	}
	none, err := Config{NoDefaultExcludes: true}.Parse()
	if err != nil {
		t.Fatal(err)
	}
	if none.Excludes(fileKey("/etc/hostname")) {
		t.Error("no_default_excludes still excludes /etc/hostname")
	}
	var nilX *Exclusions
	if !nilX.Excludes(fileKey("/etc/machine-id")) {
		t.Error("nil exclusions are not the defaults")
	}
}

func TestExclusionsParseErrors(t *testing.T) {
	_, err := Config{Exclude: []RuleConfig{{Kind: "nope", Key: "x"}, {Key: ""}, {Key: "a/[b"}}}.Parse()
	if err == nil {
		t.Fatal("bad rules accepted")
	}
	for _, want := range []string{"exclude[0]", "exclude[1]: key: required", "exclude[2]: key \"a/[b\": not a valid glob"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestCovers(t *testing.T) {
	gb := &store.GroupBaseline{Selections: []store.Selection{
		{Kind: int32(plumbv1.FactKind_FACT_KIND_FILE), Key: "/etc/nginx/**"},
		{Kind: int32(plumbv1.FactKind_FACT_KIND_PACKAGE)},
	}}
	for k, want := range map[fact.Key]bool{
		fileKey("/etc/nginx/nginx.conf"):                         true,
		fileKey("/etc/motd"):                                     false,
		{Kind: plumbv1.FactKind_FACT_KIND_PACKAGE, ID: "nginx"}:  true,
		{Kind: plumbv1.FactKind_FACT_KIND_SYSCTL, ID: "vm.swap"}: false,
	} {
		if got := Covers(gb, nil, k); got != want {
			t.Errorf("Covers(%s) = %v, want %v", k, got, want)
		}
	}
	if Covers(nil, nil, fileKey("/etc/nginx/nginx.conf")) {
		t.Error("no baseline covers something")
	}
	all := &store.GroupBaseline{Selections: []store.Selection{{}}}
	if Covers(all, nil, fileKey("/etc/hostname")) || !Covers(all, nil, fileKey("/etc/motd")) {
		t.Error("everything-selection: exclusions not applied")
	}
}
