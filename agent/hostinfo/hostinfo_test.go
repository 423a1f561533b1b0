package hostinfo

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/pkg/version"
)

func TestCollect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	hi := Collect(ctx)
	t.Logf("Collect took %v: %v", time.Since(start), hi)

	want, _ := os.Hostname()
	if hi.GetHostname() != want {
		t.Errorf("hostname = %q, want %q", hi.GetHostname(), want)
	}
	if hi.GetOs() != runtime.GOOS {
		t.Errorf("os = %q, want %q", hi.GetOs(), runtime.GOOS)
	}
	if rel, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		if got := hi.GetKernelVersion(); got != strings.TrimSpace(string(rel)) {
			t.Errorf("kernel version = %q, want %q", got, strings.TrimSpace(string(rel)))
		}
	}
	if b, err := os.ReadFile(bootIDPath); err == nil {
		if got := hi.GetBootId(); got != strings.TrimSpace(string(b)) || got == "" {
			t.Errorf("boot id = %q, want %q", got, strings.TrimSpace(string(b)))
		}
	}
	if hi.GetAgentVersion() != version.Version {
		t.Errorf("agent version = %q, want %q", hi.GetAgentVersion(), version.Version)
	}
	if osr, err := os.ReadFile("/etc/os-release"); err == nil && strings.Contains(string(osr), "ID=debian") {
		if hi.GetPlatform() != "debian" || hi.GetPlatformVersion() == "" {
			t.Errorf("platform = %q %q, want debian and a version", hi.GetPlatform(), hi.GetPlatformVersion())
		}
	}
}

func TestCollectCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	hi := Collect(ctx)
	if hi == nil || hi.GetAgentVersion() != version.Version {
		t.Fatalf("Collect(canceled) = %v; want a HostInfo with at least the agent version", hi)
	}
}

func TestDefaultHostID(t *testing.T) {
	hostname, _ := os.Hostname()
	write := func(root, rel, content string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	withID := t.TempDir()
	write(withID, "etc/machine-id", "3d1219c7c4c5404aaa1f6d2a48adfda4\n")
	write(withID, "etc/hostname", "ignored\n")
	firstBoot := t.TempDir()
	write(firstBoot, "etc/machine-id", "uninitialized\n")
	write(firstBoot, "etc/hostname", "web-1\n")
	empty := t.TempDir()
	write(empty, "etc/machine-id", "\n")
	bare := t.TempDir()

	for _, tt := range []struct {
		name, root, want string
	}{
		{"machine-id", withID, "3d1219c7c4c5404aaa1f6d2a48adfda4"},
		{"first boot falls back to the root's hostname", firstBoot, "web-1"},
		{"empty machine-id, no hostname file", empty, hostname},
		{"nothing under root", bare, hostname},
	} {
		if got := DefaultHostID(tt.root); got != tt.want {
			t.Errorf("%s: DefaultHostID = %q, want %q", tt.name, got, tt.want)
		}
	}
	if b, err := os.ReadFile("/etc/machine-id"); err == nil && strings.TrimSpace(string(b)) != "" {
		if got := DefaultHostID("/"); got != strings.TrimSpace(string(b)) {
			t.Errorf("DefaultHostID(/) = %q, want this machine's machine-id %q", got, strings.TrimSpace(string(b)))
		}
		if got := DefaultHostID(""); got != strings.TrimSpace(string(b)) {
			t.Errorf("DefaultHostID(\"\") = %q, want the machine-id", got)
		}
	}
}
