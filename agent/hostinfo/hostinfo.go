// Package hostinfo owns how the agent describes its host to the
// collector: the HostInfo sent in every hello, and the default host ID.
package hostinfo

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/shirou/gopsutil/v3/host"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/version"
)

// bootIDPath changes at every boot; the collector uses it to tell a reboot
// from a reconnect.
const bootIDPath = "/proc/sys/kernel/random/boot_id"

// Collect describes the machine the agent runs on. Whatever cannot be
// found is left empty: a partial description never stops the agent.
func Collect(ctx context.Context) *plumbv1.HostInfo {
	hi := &plumbv1.HostInfo{AgentVersion: version.Version}
	// InfoWithContext returns what it found even when one of its probes
	// fails (the error is then about that probe), so its error is not a
	// reason to drop the rest.
	if info, _ := host.InfoWithContext(ctx); info != nil {
		hi.Hostname = info.Hostname
		hi.Os = info.OS
		hi.Platform = info.Platform
		hi.PlatformVersion = info.PlatformVersion
		hi.KernelVersion = info.KernelVersion
	}
	if hi.Hostname == "" {
		hi.Hostname, _ = os.Hostname()
	}
	// gopsutil's HostID prefers the DMI product UUID, which is not the
	// boot ID, so read that directly.
	if b, err := os.ReadFile(bootIDPath); err == nil {
		hi.BootId = strings.TrimSpace(string(b))
	}
	return hi
}

// DefaultHostID returns the host's stable identity for when the
// configuration names none: the systemd machine ID in root/etc/machine-id;
// failing that (no file, empty, or "uninitialized" on first boot),
// root/etc/hostname when root is not "/"; failing that, the hostname the
// kernel reports.
func DefaultHostID(root string) string {
	if root == "" {
		root = "/"
	}
	if id := readID(filepath.Join(root, "etc/machine-id")); id != "" && id != "uninitialized" {
		return id
	}
	if filepath.Clean(root) != "/" {
		if h := readID(filepath.Join(root, "etc/hostname")); h != "" {
			return h
		}
	}
	h, _ := os.Hostname()
	return h
}

func readID(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
