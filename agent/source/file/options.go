package file

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/plumb-dev/plumb/agent/source"
)

// Config is the file source's section of the agent configuration
// (sources.file).
type Config struct {
	// Paths are the roots to watch, as the host sees them (absolute).
	Paths []string `koanf:"paths"`
	// Exclude holds doublestar globs ("**" crosses directories) matched
	// against the full host path; a match is neither watched nor reported.
	Exclude []string `koanf:"exclude"`
	// Debounce is the window in which events for a path are coalesced.
	// A path is read once its events pause for this long, so a file is not
	// read half-written (truncate, then write); removals and renames away
	// are handled at once, with one trailing re-check if more events
	// arrive in the window. A file its writer closes (IN_CLOSE_WRITE) is
	// read at once, without waiting for the window.
	Debounce time.Duration `koanf:"debounce"`
	// Workers is how many files are hashed, and how many directories
	// listed, at once during a scan.
	Workers int `koanf:"workers"`
	// PollInterval is how often subtrees that could not be watched are
	// rescanned.
	PollInterval time.Duration `koanf:"poll_interval"`
	// Content says which files' content the agent keeps, to send each
	// change of them as a diff.
	Content ContentConfig `koanf:"content"`
}

// ContentConfig is the file source's content section
// (sources.file.content). The agent keeps the last content it read of
// regular, world-readable text files matching Paths, up to MaxSize each
// and MaxTotal in all, in its state database, and sends a live change of
// one as a unified diff, with the values of lines that look like secrets
// redacted. Files that are not world-readable (mode & 0o004 == 0) are
// never kept, whatever Paths says: their content must not leave the host.
type ContentConfig struct {
	// Enabled turns content keeping on (the default) or off.
	Enabled bool `koanf:"enabled"`
	// Paths holds doublestar globs over the full host path; default
	// "/etc/**".
	Paths []string `koanf:"paths"`
	// MaxSize is the largest file kept, in bytes (default 64 KiB, at
	// most 1 MiB).
	MaxSize int64 `koanf:"max_size"`
	// MaxTotal bounds all kept content, in bytes (default 32 MiB).
	MaxTotal int64 `koanf:"max_total"`
}

// Defaults.
const (
	defaultDebounce     = 4 * time.Millisecond
	defaultPollInterval = 60 * time.Second
)

var defaultPaths = []string{"/etc"}

// Content defaults and bounds.
const (
	defaultContentMaxSize  = 64 << 10
	defaultContentMaxTotal = 32 << 20
	maxContentMaxSize      = 1 << 20
)

var defaultContentPaths = []string{"/etc/**"}

// settings is a validated Config, resolved against the host root.
type settings struct {
	hostRoot     string // "" when the host root is "/"
	roots        []string
	exclude      []string
	debounce     time.Duration
	workers      int
	pollInterval time.Duration
	content      contentSettings
}

// contentSettings are a validated ContentConfig; off when globs is empty.
type contentSettings struct {
	globs    []string
	maxSize  int64
	maxTotal int64
}

// decodeConfig reads opts into a Config with defaults applied.
func decodeConfig(opts source.Options) (Config, error) {
	cfg := Config{
		Debounce:     defaultDebounce,
		Workers:      runtime.GOMAXPROCS(0),
		PollInterval: defaultPollInterval,
		Content: ContentConfig{
			Enabled:  true,
			MaxSize:  defaultContentMaxSize,
			MaxTotal: defaultContentMaxTotal,
		},
	}
	if err := opts.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("file source options: %w", err)
	}
	if cfg.Paths == nil {
		cfg.Paths = append([]string(nil), defaultPaths...)
	}
	if cfg.Content.Paths == nil {
		cfg.Content.Paths = append([]string(nil), defaultContentPaths...)
	}
	return cfg, nil
}

// resolve validates cfg and joins its paths under hostRoot.
func (cfg Config) resolve(hostRoot string) (settings, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}

	s := settings{
		debounce:     cfg.Debounce,
		workers:      cfg.Workers,
		pollInterval: cfg.PollInterval,
	}
	switch {
	case hostRoot == "" || hostRoot == "/":
	case !filepath.IsAbs(hostRoot):
		bad("host root %q: must be an absolute path", hostRoot)
	default:
		s.hostRoot = filepath.Clean(hostRoot)
	}

	if len(cfg.Paths) == 0 {
		bad("paths: empty; list at least one directory or file to watch")
	}
	var keys []string
	for _, p := range cfg.Paths {
		switch {
		case p == "":
			bad("paths: empty path")
			continue
		case strings.IndexByte(p, 0) >= 0:
			bad("paths: %q contains a NUL byte", p)
			continue
		case !filepath.IsAbs(p):
			bad("paths: %q is not absolute", p)
			continue
		}
		keys = append(keys, filepath.Clean(p))
	}
	for i, a := range keys {
		for _, b := range keys[:i] {
			switch {
			case a == b:
				bad("paths: %q is listed twice", a)
			case within(a, b):
				bad("paths: %q is inside %q; list only the outer one", a, b)
			case within(b, a):
				bad("paths: %q is inside %q; list only the outer one", b, a)
			}
		}
	}
	for _, k := range keys {
		s.roots = append(s.roots, s.fsPath(k))
	}

	for _, g := range cfg.Exclude {
		if !doublestar.ValidatePattern(g) {
			bad("exclude: %q is not a valid glob", g)
			continue
		}
		s.exclude = append(s.exclude, g)
	}
	if cfg.Debounce < 0 {
		bad("debounce: %v is negative", cfg.Debounce)
	}
	if cfg.Workers < 1 {
		bad("workers: %d, want at least 1", cfg.Workers)
	}
	if cfg.PollInterval <= 0 {
		bad("poll_interval: %v, want a positive duration", cfg.PollInterval)
	}
	if c := cfg.Content; c.Enabled {
		for _, g := range c.Paths {
			if !strings.HasPrefix(g, "/") || !doublestar.ValidatePattern(g) {
				bad("content.paths: %q is not a valid absolute glob", g)
				continue
			}
			s.content.globs = append(s.content.globs, g)
		}
		if c.MaxSize <= 0 || c.MaxSize > maxContentMaxSize {
			bad("content.max_size: %d, want 1 to %d bytes", c.MaxSize, maxContentMaxSize)
		}
		if c.MaxTotal < c.MaxSize {
			bad("content.max_total: %d, want at least content.max_size (%d)", c.MaxTotal, c.MaxSize)
		}
		s.content.maxSize, s.content.maxTotal = c.MaxSize, c.MaxTotal
	}
	if err := errors.Join(errs...); err != nil {
		return settings{}, fmt.Errorf("file source options: %w", err)
	}
	return s, nil
}

// fsPath returns where the host path key is on this machine's filesystem.
func (s *settings) fsPath(key string) string {
	if s.hostRoot == "" {
		return key
	}
	return filepath.Join(s.hostRoot, key)
}

// key returns the host path of p, a path on this machine under the host
// root: the fact key.
func (s *settings) key(p string) string {
	if s.hostRoot == "" {
		return p
	}
	rest := strings.TrimPrefix(p, s.hostRoot)
	if rest == "" {
		return "/"
	}
	return rest
}

// excluded reports whether the path p (on this machine) matches an
// exclude glob.
func (s *settings) excluded(p string) bool {
	if len(s.exclude) == 0 {
		return false
	}
	k := s.key(p)
	for _, g := range s.exclude {
		if ok, _ := doublestar.Match(g, k); ok {
			return true
		}
	}
	return false
}

// keepsContent reports whether the content of the file at host path key
// may be kept (if it is a regular, world-readable text file).
func (s *settings) keepsContent(key string) bool {
	for _, g := range s.content.globs {
		if ok, _ := doublestar.Match(g, key); ok {
			return true
		}
	}
	return false
}

// within reports whether p is strictly inside dir.
func within(p, dir string) bool {
	if dir == "/" {
		return p != "/" && strings.HasPrefix(p, "/")
	}
	return len(p) > len(dir) && p[len(dir)] == '/' && p[:len(dir)] == dir
}

// withinOrSame reports whether p is dir or inside it.
func withinOrSame(p, dir string) bool {
	return p == dir || within(p, dir)
}
