package kernel

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseModules(t *testing.T) {
	f, err := os.Open("testdata/modules")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ParseModules(f)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"nf_conntrack": 188416, "nf_defrag_ipv6": 24576, "xfs": 2101248, "loop": 32768}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ParseModules (-want +got):\n%s", d)
	}
	for _, bad := range []string{"lonely\n", "mod notanumber 0 - Live 0x0\n"} {
		if _, err := ParseModules(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseModules(%q): want an error", bad)
		}
	}
	if got, err := ParseModules(strings.NewReader("\n")); err != nil || len(got) != 0 {
		t.Errorf("ParseModules(blank) = %v, %v; want empty", got, err)
	}
}

func TestSysctlName(t *testing.T) {
	for _, tt := range []struct{ path, name string }{
		{"net/ipv4/ip_forward", "net.ipv4.ip_forward"},
		{"net/ipv4/conf/eth0.100/forwarding", "net.ipv4.conf.eth0/100.forwarding"},
		{"kernel/osrelease", "kernel.osrelease"},
	} {
		if got := sysctlName(tt.path); got != tt.name {
			t.Errorf("sysctlName(%q) = %q, want %q", tt.path, got, tt.name)
		}
		if got := sysctlPath(tt.name); got != tt.path {
			t.Errorf("sysctlPath(%q) = %q, want %q", tt.name, got, tt.path)
		}
	}
}

func TestNormalizeValue(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"1\n", "1"},
		{"  0 \n", "0"},
		{"4096\t131072\t6291456\n", "4096\t131072\t6291456"},
		{"4096\t \t131072", "4096\t131072"},
		{"1   2", "1 2"},
		{" \t1", "1"},
		{"line one\nline two\n", "line one line two"},
		{"a\t\nb", "a b"},
		{"", ""},
	} {
		if got := normalizeValue(tt.in); got != tt.want {
			t.Errorf("normalizeValue(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMatchGlob(t *testing.T) {
	for _, tt := range []struct {
		pattern, name string
		want          bool
	}{
		{"kernel.random.uuid", "kernel.random.uuid", true},
		{"kernel.random.uuid", "kernel.random.uuidx", false},
		{"fs.quota.*", "fs.quota.lookups", true},
		{"fs.quota.*", "fs.quota", false},
		{"net.*.conf.veth*", "net.ipv4.conf.veth1a2b.forwarding", true},
		{"net.*.conf.veth*", "net.ipv6.conf.eth0.forwarding", false},
		{"net.ipv6.conf.*.stable_secret", "net.ipv6.conf.eth0/100.stable_secret", true},
		{"net.ipv6.conf.*.stable_secret", "net.ipv6.conf.eth0.stable_secrets", false},
		{"kernel.?s_last_pid", "kernel.ns_last_pid", true},
		{"*", "", true},
		{"", "x", false},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"**x", "abx", true},
	} {
		if got := matchGlob(tt.pattern, tt.name); got != tt.want {
			t.Errorf("matchGlob(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func TestDefaultIgnoreCoversSelfChangingValues(t *testing.T) {
	for _, name := range []string{
		"kernel.random.uuid", "kernel.random.entropy_avail", "kernel.random.boot_id",
		"kernel.ns_last_pid", "fs.dentry-state", "fs.inode-nr", "fs.file-nr",
		"net.ipv4.tcp_fastopen_key", "net.ipv6.conf.all.stable_secret",
		"net.ipv4.conf.veth9f3.rp_filter", "net.ipv6.neigh.veth9f3.retrans_time_ms",
		"net.ipv4.neigh.eth0.retrans_time", "net.ipv6.neigh.default.base_reachable_time", "vm.stat_refresh",
	} {
		if !ignored(DefaultSysctlIgnore, name) {
			t.Errorf("%s is not ignored by default", name)
		}
	}
	for _, name := range []string{
		"net.ipv4.ip_forward", "kernel.random.write_wakeup_threshold", "fs.file-max",
		"net.ipv4.conf.eth0.rp_filter", "kernel.tainted", "vm.swappiness",
		"net.ipv4.neigh.eth0.retrans_time_ms", "net.ipv6.neigh.default.base_reachable_time_ms",
	} {
		if ignored(DefaultSysctlIgnore, name) {
			t.Errorf("%s is ignored by default, but is configuration", name)
		}
	}
}
