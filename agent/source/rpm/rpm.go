// Package rpm owns the rpm fact source: it turns the rpm database into one
// package fact per installed package and one conffile fact per %config
// file, and reports changes as rpm writes the database.
//
// The database is read in-process with github.com/knqyf263/go-rpmdb, which
// understands the sqlite (RHEL 9, Fedora 33+), ndb (SUSE) and Berkeley DB
// (RHEL 7/8) formats. Plumb does not run the rpm binary: the agent must
// work on a host root mounted into a container that has no rpm, must not
// fork a process per change, and must not take rpm's transaction lock,
// which would stall the host's package manager.
//
// Keys: "name.arch", as rpm -qa --qf '%{NAME}.%{ARCH}' prints it (packages
// without an arch are keyed by name alone). Version: "[epoch:]version-release".
// When several instances share a name and arch (install-only packages such
// as kernel-core keep several versions), the one fact carries all their
// versions, sorted as strings and joined by ", ".
//
// gpg-pubkey pseudo-packages are the signing keys rpm trusts. They share
// one name and have no arch, so each is keyed "gpg-pubkey-VERSION-RELEASE"
// (what rpm -q and rpm -e accept), version "VERSION-RELEASE", no arch: an
// imported or removed key shows as an added or removed fact.
//
// Conffiles: every file flagged %config that the package records a digest
// for: regular files, not %ghost. The digest algorithm is the package's
// (md5 when the header does not say). Files with an algorithm Plumb cannot
// compute are skipped.
//
// When a key's versions change after the first snapshot, its fact goes
// with a check of the files its new versions record digests for (regular,
// not %ghost; pkgfact.Verify). Only the headers whose key and version are
// new in a reading keep their file lists, at most maxKeptFiles in all.
//
// When no database exists under the host root (a Debian host, say), the
// source reports empty snapshots, logs that once at info, and keeps looking
// for one to appear.
package rpm

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/plumb-dev/plumb/agent/source"
)

func init() {
	source.Register("rpm", true, New)
}

// Config is the source's section of the agent configuration (sources.rpm).
type Config struct {
	// DBPath is rpm's database directory, relative to the host root.
	DBPath string `koanf:"dbpath"`
	// CheckConffiles reports conffile facts and hashes them on disk.
	CheckConffiles bool `koanf:"check_conffiles"`
	// ConffileInterval is how often conffiles are re-hashed when the
	// database does not change.
	ConffileInterval time.Duration `koanf:"conffile_interval"`
}

// DefaultConfig returns the defaults that the configuration overlays.
func DefaultConfig() Config {
	return Config{
		DBPath:           "/var/lib/rpm",
		CheckConffiles:   true,
		ConffileInterval: 5 * time.Minute,
	}
}

// Validate reports settings the source cannot run with.
func (c Config) Validate() error {
	if !filepath.IsAbs(c.DBPath) {
		return fmt.Errorf("dbpath %q: must be an absolute path", c.DBPath)
	}
	if c.CheckConffiles && c.ConffileInterval <= 0 {
		return fmt.Errorf("conffile_interval %v: must be positive", c.ConffileInterval)
	}
	return nil
}

// New builds the rpm source from its options.
func New(logger *slog.Logger, opts source.Options) (source.Source, error) {
	cfg := DefaultConfig()
	if err := opts.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("rpm options: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("rpm options: %w", err)
	}
	root := opts.HostRoot
	if root == "" {
		root = "/"
	}
	return &Source{
		log:         logger,
		cfg:         cfg,
		root:        root,
		debounce:    100 * time.Millisecond,
		maxDelay:    500 * time.Millisecond,
		missingPoll: 2 * time.Second,
		retryDelay:  200 * time.Millisecond,
	}, nil
}
