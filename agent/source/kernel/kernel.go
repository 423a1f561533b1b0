// Package kernel owns the kernel fact source: the running kernel's release
// and command line, the loaded modules, and sysctl values, read from /proc
// under the host root and polled for changes.
//
// /proc offers no change notification for these, so the source polls
// (every 10 s by default; a full read of the default sysctl prefixes takes
// tens of milliseconds) and reports only what differs from the last poll.
//
// Facts: FACT_KIND_KERNEL "release" (/proc/sys/kernel/osrelease) and
// "cmdline" (/proc/cmdline); FACT_KIND_KMOD per /proc/modules line, with
// the module's size (a kernel without module support has no /proc/modules:
// no facts, not an error); FACT_KIND_SYSCTL per readable file under
// /proc/sys in the configured prefixes, keyed by its dotted name the way
// sysctl(8) names it (a dot inside a path component, as in a VLAN
// interface "eth0.100", becomes a slash: net.ipv4.conf.eth0/100.forwarding).
// Sysctl values are trimmed, and runs of whitespace collapse to one tab
// (runs starting with a tab) or one space, so that a multi-line value is
// one line. Write-only entries (no read permission bit) and entries the
// kernel refuses to read (EACCES, EPERM, EIO, EINVAL, ...) are skipped and
// logged at debug. Sysctls that change by themselves or hold secrets are
// ignored: see DefaultSysctlIgnore.
package kernel

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/plumb-dev/plumb/agent/source"
)

func init() {
	source.Register("kernel", true, New)
}

// Config is the source's section of the agent configuration
// (sources.kernel).
type Config struct {
	// Interval is the time between polls.
	Interval time.Duration `koanf:"interval"`
	// SysctlPrefixes are the dotted sysctl names reported, each with
	// everything under it. An empty list reports no sysctls.
	SysctlPrefixes []string `koanf:"sysctl_prefixes"`
	// SysctlIgnore are extra glob patterns of sysctl names to leave out,
	// added to DefaultSysctlIgnore.
	SysctlIgnore []string `koanf:"sysctl_ignore"`
}

// DefaultConfig returns the defaults that the configuration overlays.
func DefaultConfig() Config {
	return Config{
		Interval:       10 * time.Second,
		SysctlPrefixes: []string{"net.ipv4", "net.ipv6", "kernel", "fs", "vm"},
	}
}

// Validate reports settings the source cannot run with.
func (c Config) Validate() error {
	if c.Interval <= 0 {
		return fmt.Errorf("interval %v: must be positive", c.Interval)
	}
	for _, p := range c.SysctlPrefixes {
		if p == "" || p[0] == '.' || p[len(p)-1] == '.' {
			return fmt.Errorf("sysctl_prefixes: %q is not a dotted sysctl name", p)
		}
	}
	for _, g := range c.SysctlIgnore {
		if g == "" {
			return fmt.Errorf("sysctl_ignore: empty pattern")
		}
	}
	return nil
}

// New builds the kernel source from its options.
func New(logger *slog.Logger, opts source.Options) (source.Source, error) {
	cfg := DefaultConfig()
	if err := opts.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("kernel options: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("kernel options: %w", err)
	}
	root := opts.HostRoot
	if root == "" {
		root = "/"
	}
	ignore := append(append([]string(nil), DefaultSysctlIgnore...), cfg.SysctlIgnore...)
	return &Source{log: logger, cfg: cfg, root: root, ignore: ignore}, nil
}
