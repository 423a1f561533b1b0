// Package dpkg owns the dpkg fact source: it turns the dpkg status database
// into one package fact per installed package and one conffile fact per
// configuration file a package ships, and reports changes as dpkg rewrites
// the database.
//
// What counts as installed: every package whose status is neither
// not-installed nor config-files, that is every package whose files are on
// disk. On a quiet system these are the lines dpkg-query shows as "ii", plus
// held ("hi") and marked-for-removal ("ri", "pi") packages, which are just as
// installed. The transient states of a dpkg run (half-installed, unpacked,
// half-configured, triggers-awaited, triggers-pending) count as installed too,
// so that an upgrade reports one version change, not a removal and a
// re-install.
//
// The database is the status file with dpkg's journal (updates/NNNN next to
// it) applied on top, as dpkg-query reads it.
//
// Which conffiles are reported: those with a recorded md5. Entries marked
// "obsolete" (no longer shipped by the installed version) or
// "remove-on-upgrade" (going away at the next upgrade) are skipped, and so
// are "newconffile" entries (unpacked, not yet configured: dpkg has recorded
// no digest yet); they appear once dpkg configures the package.
//
// When a package's version changes (or a package is installed) after the
// first snapshot, its fact goes with a check of the files the new version
// records digests for: its md5sums file in dpkg's info directory and its
// tracked conffiles, each hashed on disk (pkgfact.Verify). The check is
// made at the first reading that shows the new version: dpkg has put the
// new files in place by then, but a conffile the new version changes is
// only installed when dpkg configures the package, so until then the
// status file records, and the check compares with, the old one.
package dpkg

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/plumb-dev/plumb/agent/source"
)

func init() {
	source.Register("dpkg", true, New)
}

// Config is the source's section of the agent configuration (sources.dpkg).
type Config struct {
	// StatusFile is dpkg's status database, relative to the host root.
	StatusFile string `koanf:"status_file"`
	// CheckConffiles reports conffile facts and hashes them on disk.
	CheckConffiles bool `koanf:"check_conffiles"`
	// ConffileInterval is how often conffiles are re-hashed when the
	// database does not change; a hand edit shows within this interval.
	ConffileInterval time.Duration `koanf:"conffile_interval"`
}

// DefaultConfig returns the defaults that the configuration overlays.
func DefaultConfig() Config {
	return Config{
		StatusFile:       "/var/lib/dpkg/status",
		CheckConffiles:   true,
		ConffileInterval: 5 * time.Minute,
	}
}

// Validate reports settings the source cannot run with.
func (c Config) Validate() error {
	var errs []error
	if !filepath.IsAbs(c.StatusFile) {
		errs = append(errs, fmt.Errorf("status_file %q: must be an absolute path", c.StatusFile))
	}
	if c.CheckConffiles && c.ConffileInterval <= 0 {
		errs = append(errs, fmt.Errorf("conffile_interval %v: must be positive", c.ConffileInterval))
	}
	return errors.Join(errs...)
}

// New builds the dpkg source from its options.
func New(logger *slog.Logger, opts source.Options) (source.Source, error) {
	cfg := DefaultConfig()
	if err := opts.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("dpkg options: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("dpkg options: %w", err)
	}
	root := opts.HostRoot
	if root == "" {
		root = "/"
	}
	status := filepath.Join(root, cfg.StatusFile)
	return &Source{
		log:         logger,
		cfg:         cfg,
		root:        root,
		statusPath:  status,
		updatesDir:  filepath.Join(filepath.Dir(status), "updates"),
		debounce:    100 * time.Millisecond,
		maxDelay:    500 * time.Millisecond,
		missingPoll: 2 * time.Second,
	}, nil
}
