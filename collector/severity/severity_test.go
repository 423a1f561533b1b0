package severity

import (
	"testing"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

func TestDefaults(t *testing.T) {
	const (
		file   = plumbv1.FactKind_FACT_KIND_FILE
		crit   = plumbv1.Severity_SEVERITY_CRITICAL
		warn   = plumbv1.Severity_SEVERITY_WARNING
		info   = plumbv1.Severity_SEVERITY_INFO
		sysctl = plumbv1.FactKind_FACT_KIND_SYSCTL
	)
	for _, tc := range []struct {
		kind plumbv1.FactKind
		key  string
		want plumbv1.Severity
	}{
		{file, "/etc/shadow", crit},
		{file, "/etc/sudoers", crit},
		{file, "/etc/sudoers.d/90-cloud", crit},
		{file, "/etc/ssh/sshd_config", crit},
		{file, "/etc/ssh/sshd_config.d/x.conf", crit},
		{file, "/etc/pam.d/common-auth", crit},
		{file, "/etc/cron.d/backup", warn},
		{file, "/etc/motd", info},
		{file, "/etc/shadow-", info},
		{file, "/srv/etc/shadow", info},
		{plumbv1.FactKind_FACT_KIND_KERNEL, "cmdline", crit},
		{plumbv1.FactKind_FACT_KIND_KERNEL, "release", warn},
		{plumbv1.FactKind_FACT_KIND_KMOD, "ext4", crit},
		{plumbv1.FactKind_FACT_KIND_PACKAGE, "openssh-server:amd64", warn},
		{sysctl, "vm.swappiness", info},
		{plumbv1.FactKind_FACT_KIND_HEALTH, "identity", crit},
		{plumbv1.FactKind_FACT_KIND_HEALTH, "digest", warn},
		{plumbv1.FactKind_FACT_KIND_HEALTH, "coverage", warn},
		{plumbv1.FactKind_FACT_KIND_HEALTH, "reporting", warn},
	} {
		if got := New(nil).Of(tc.kind, []byte(tc.key)); got != tc.want {
			t.Errorf("%v %s: %v, want %v", tc.kind, tc.key, got, tc.want)
		}
	}
	var nilRules *Rules
	if nilRules.Of(file, []byte("/etc/shadow")) != crit {
		t.Error("nil rules are not the defaults")
	}
}

func TestCustomRulesComeFirst(t *testing.T) {
	r, err := Parse([]Config{
		{Kind: "file", Key: "/etc/shadow", Severity: "info"},
		{Key: "net.ipv4.**", Severity: "critical"},
		{Kind: "any", Key: "/opt/**", Severity: "Warning"},
		{Kind: "health", Key: "reporting", Severity: "critical"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Of(plumbv1.FactKind_FACT_KIND_FILE, []byte("/etc/shadow")); got != plumbv1.Severity_SEVERITY_INFO {
		t.Errorf("an override of a default: %v", got)
	}
	if got := r.Of(plumbv1.FactKind_FACT_KIND_SYSCTL, []byte("net.ipv4.ip_forward")); got != plumbv1.Severity_SEVERITY_CRITICAL {
		t.Errorf("a rule for any kind: %v", got)
	}
	if got := r.Of(plumbv1.FactKind_FACT_KIND_FILE, []byte("/opt/app/x")); got != plumbv1.Severity_SEVERITY_WARNING {
		t.Errorf("kind any, level in capitals: %v", got)
	}
	if got := r.Of(plumbv1.FactKind_FACT_KIND_FILE, []byte("/etc/passwd")); got != plumbv1.Severity_SEVERITY_CRITICAL {
		t.Errorf("defaults after the custom rules: %v", got)
	}
	if got := r.Of(plumbv1.FactKind_FACT_KIND_HEALTH, []byte("reporting")); got != plumbv1.Severity_SEVERITY_CRITICAL {
		t.Errorf("an override of a health default: %v", got)
	}
	for _, bad := range []Config{{Key: "**", Severity: "unspecified"}, {Key: "**"}, {Kind: "nope", Key: "**", Severity: "info"}} {
		if _, err := Parse([]Config{bad}); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
