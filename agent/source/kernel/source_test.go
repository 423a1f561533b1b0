package kernel

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/agent/source/sourcetest"
	"github.com/plumb-dev/plumb/pkg/fact"
)

const (
	kernelKind = plumbv1.FactKind_FACT_KIND_KERNEL
	kmodKind   = plumbv1.FactKind_FACT_KIND_KMOD
	sysctlKind = plumbv1.FactKind_FACT_KIND_SYSCTL
)

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// start runs a kernel source on root until the test ends, and waits for
// its initial snapshot.
func start(t *testing.T, root string, raw map[string]any) *sourcetest.Sink {
	t.Helper()
	src, err := New(sourcetest.Logger(t), source.Options{HostRoot: root, Raw: raw})
	if err != nil {
		t.Fatal(err)
	}
	return sourcetest.Run(t, src, nil)
}

func val(f *plumbv1.Fact) string { return f.GetValue().GetValue() }

// fixtureProc builds a host root with a small /proc.
func fixtureProc(t *testing.T) string {
	root := t.TempDir()
	p := func(rel string) string { return filepath.Join(root, "proc", rel) }
	writeFile(t, p("sys/kernel/osrelease"), "6.1.0-test\n", 0o444)
	writeFile(t, p("sys/kernel/random/uuid"), "0b6e7c6a-0000-4000-8000-000000000000\n", 0o444)
	writeFile(t, p("sys/kernel/random/write_wakeup_threshold"), "896\n", 0o644)
	writeFile(t, p("cmdline"), "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet\n", 0o444)
	mods, err := os.ReadFile("testdata/modules")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, p("modules"), string(mods), 0o444)
	writeFile(t, p("sys/net/ipv4/ip_forward"), "0\n", 0o644)
	writeFile(t, p("sys/net/ipv4/tcp_rmem"), "4096\t131072\t6291456\n", 0o644)
	writeFile(t, p("sys/net/ipv4/conf/eth0.100/forwarding"), "1\n", 0o644)
	writeFile(t, p("sys/net/ipv4/route/flush"), "", 0o200) // write-only
	writeFile(t, p("sys/vm/drop_caches"), "", 0o200)       // write-only
	writeFile(t, p("sys/vm/swappiness"), "60\n", 0o644)
	writeFile(t, p("sys/fs/multi"), "first line\nsecond  line\n", 0o444)
	writeFile(t, p("sys/dev/cdrom/autoclose"), "1\n", 0o644) // outside the prefixes
	return root
}

func TestFixtureSnapshot(t *testing.T) {
	root := fixtureProc(t)
	sink := start(t, root, map[string]any{"interval": "1h"})

	got := map[string]string{}
	for _, kind := range []plumbv1.FactKind{kernelKind, kmodKind, sysctlKind} {
		for k, f := range sink.ByKind(kind) {
			v := val(f)
			if kind == kmodKind {
				v = strconv.FormatInt(f.GetKmod().GetSize(), 10)
			}
			got[fact.KindName(kind)+" "+k] = v
		}
	}
	want := map[string]string{
		"kernel release":          "6.1.0-test",
		"kernel cmdline":          "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet",
		"kmod nf_conntrack":       "188416",
		"kmod nf_defrag_ipv6":     "24576",
		"kmod xfs":                "2101248",
		"kmod loop":               "32768",
		"sysctl kernel.osrelease": "6.1.0-test",
		"sysctl kernel.random.write_wakeup_threshold": "896",
		"sysctl net.ipv4.ip_forward":                  "0",
		"sysctl net.ipv4.tcp_rmem":                    "4096\t131072\t6291456",
		"sysctl net.ipv4.conf.eth0/100.forwarding":    "1",
		"sysctl vm.swappiness":                        "60",
		"sysctl fs.multi":                             "first line second line",
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %q (present %v), want %q", k, g, ok, v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected fact %s = %q", k, got[k])
		}
	}
	log := strings.Join(sink.LogSince(0), "\n")
	for _, w := range []string{"begin kernel/", "end kernel/", "begin kmod/", "end kmod/", "begin sysctl/", "end sysctl/", "ready"} {
		i := strings.Index(log, w)
		if i < 0 {
			t.Fatalf("log lacks %q in order:\n%s", w, strings.Join(sink.LogSince(0), "\n"))
		}
		log = log[i:]
	}
}

func TestFixtureChanges(t *testing.T) {
	root := fixtureProc(t)
	p := func(rel string) string { return filepath.Join(root, "proc", rel) }
	interval := 50 * time.Millisecond
	sink := start(t, root, map[string]any{
		"interval":        interval.String(),
		"sysctl_prefixes": []string{"net.ipv4", "kernel", "vm", "fs"},
		"sysctl_ignore":   []string{"vm.swap*"},
	})
	if sink.Get(sysctlKind, "vm.swappiness") != nil {
		t.Error("vm.swappiness reported despite sysctl_ignore vm.swap*")
	}

	mark := sink.LogLen()
	writeFile(t, p("sys/net/ipv4/ip_forward"), "1\n", 0o644)
	writeFile(t, p("modules"), "xfs 2101248 1 - Live 0x0\nvfat 20480 0 - Live 0x0\n", 0o444)
	writeFile(t, p("sys/kernel/random/uuid"), "a-new-uuid\n", 0o444) // ignored
	took := sourcetest.WaitFor(t, interval+3*time.Second, "changes", func() bool {
		return val(sink.Get(sysctlKind, "net.ipv4.ip_forward")) == "1" &&
			sink.Get(kmodKind, "vfat") != nil && sink.Get(kmodKind, "loop") == nil
	})
	t.Logf("changes reported after %v (interval %v)", took, interval)
	// Only the changes: upserts of ip_forward and vfat, deletes of the
	// three unloaded modules.
	sourcetest.WaitFor(t, 2*time.Second, "all changes", func() bool { return len(sink.LogSince(mark)) >= 5 })
	got := sink.LogSince(mark)
	want := []string{
		"upsert kmod:vfat", "upsert sysctl:net.ipv4.ip_forward",
		"delete kmod:loop", "delete kmod:nf_conntrack", "delete kmod:nf_defrag_ipv6",
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("changes = %v, want %v", got, want)
	}

	// /proc gone (unmounted): state kept, coverage blind; back: closed.
	if err := os.Rename(p("sys"), p("sys.away")); err != nil {
		t.Fatal(err)
	}
	sourcetest.WaitFor(t, 3*time.Second, "blind condition", func() bool {
		c, ok := sink.LastCondition()
		return ok && c.State == plumbv1.CoverageState_COVERAGE_STATE_BLIND
	})
	if sink.Get(sysctlKind, "net.ipv4.ip_forward") == nil {
		t.Error("facts dropped while /proc was unreadable")
	}
	if err := os.Rename(p("sys.away"), p("sys")); err != nil {
		t.Fatal(err)
	}
	sourcetest.WaitFor(t, 3*time.Second, "condition closed", func() bool {
		c, _ := sink.LastCondition()
		return c.State == plumbv1.CoverageState_COVERAGE_STATE_OK
	})
}

func TestNoProc(t *testing.T) {
	src, err := New(sourcetest.Logger(t), source.Options{HostRoot: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Run(context.Background(), sourcetest.NewSink()); err == nil {
		t.Error("Run with no /proc under the root: want an error")
	}
}

func TestOptions(t *testing.T) {
	for _, tt := range []struct {
		raw     map[string]any
		wantErr string
	}{
		{raw: nil},
		{raw: map[string]any{"interval": "30s", "sysctl_prefixes": []string{"net"}, "sysctl_ignore": []string{"net.core.*"}}},
		{raw: map[string]any{"interval": "0s"}, wantErr: "positive"},
		{raw: map[string]any{"sysctl_prefixes": []string{"net."}}, wantErr: "dotted"},
		{raw: map[string]any{"sysctl_ignore": []string{""}}, wantErr: "empty"},
		{raw: map[string]any{"sysctl_prefix": []string{"net"}}, wantErr: "sysctl_prefix"},
	} {
		_, err := New(sourcetest.Logger(t), source.Options{Raw: tt.raw})
		if tt.wantErr == "" && err != nil {
			t.Errorf("New(%v) = %v, want no error", tt.raw, err)
		}
		if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("New(%v) = %v, want error containing %q", tt.raw, err, tt.wantErr)
		}
	}
}
