package rpm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/hostpath"
	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/agent/source/filestamp"
	"github.com/plumb-dev/plumb/agent/source/gapset"
	"github.com/plumb-dev/plumb/agent/source/pkgfact"
	"github.com/plumb-dev/plumb/agent/source/settle"
	"github.com/plumb-dev/plumb/agent/source/snapshot"
)

// readAttempts is how often a failing read is tried, retryDelay apart,
// before the source gives up until the next change: rpm may hold the
// database mid-transaction.
const readAttempts = 3

var _ source.Source = (*Source)(nil)

// Source reports the rpm database. It watches the database directory and
// reads the database again after rpm writes it.
type Source struct {
	log  *slog.Logger
	cfg  Config
	root string
	// debounce is the quiet time after the last database event before it
	// is read again; maxDelay bounds the wait during a long transaction.
	debounce, maxDelay time.Duration
	// missingPoll is how often the source looks for a database directory
	// it cannot watch (missing, or watch refused).
	missingPoll time.Duration
	retryDelay  time.Duration
}

// run is the state of one Run call; only Run's goroutine touches it.
type run struct {
	*Source
	sink     source.Sink
	w        *fsnotify.Watcher
	dir      string // watched database directory, "" when none
	pkgs     []Package
	found    bool   // a database existed at the last read
	stamp    string // database fingerprint taken before the last read
	failures int    // consecutive failed reads
	reporter *pkgfact.Reporter
	// reported: the first snapshot is sent, later reads are changes
	reported bool
	// filesTruncated: the last read kept the files of only some of its
	// changed packages
	filesTruncated bool
	gaps           *gapset.Set
}

var (
	_ pkgfact.Reading     = (*run)(nil)
	_ pkgfact.FileReading = (*run)(nil)
)

// PackageFacts implements pkgfact.Reading for the last database read.
func (r *run) PackageFacts(now int64) snapshot.Facts { return packageFacts(r.pkgs, now) }

// ConffileFacts implements pkgfact.Reading for the last database read.
func (r *run) ConffileFacts(now int64) snapshot.Facts {
	return conffileFacts(r.log, r.root, r.pkgs, now)
}

// Run reports a snapshot of the database, then its changes until ctx ends.
func (s *Source) Run(ctx context.Context, sink source.Sink) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("rpm: start watcher: %w", err)
	}
	defer w.Close()
	r := &run{
		Source: s, sink: sink, w: w,
		gaps:     gapset.New(sink),
		reporter: pkgfact.NewReporter(sink, manager, s.cfg.CheckConffiles),
	}
	r.reporter.CheckUpgrades(s.log, s.root, pkgfact.DefaultLimits())

	// Watch before the first read, so that no change slips in between.
	r.watch()
	start := time.Now()
	for {
		err = r.read()
		if err == nil {
			break
		}
		if r.failures >= readAttempts {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(s.retryDelay):
		}
	}
	if !r.found {
		s.log.Info("rpm database not found; watching for it", "dbpath", filepath.Join(s.root, s.cfg.DBPath))
	}
	r.reporter.Snapshot(r, time.Now().UnixNano())
	r.reported = true
	sink.Ready()
	pkgs, confs := r.reporter.Counts()
	s.log.Debug("rpm snapshot done", "packages", pkgs, "conffiles", confs, "duration", time.Since(start))
	return r.loop(ctx)
}

func (r *run) loop(ctx context.Context) error {
	var (
		reread = settle.New(r.debounce, r.maxDelay)
		conffC <-chan time.Time
		pollC  <-chan time.Time
		poll   = time.NewTicker(r.missingPoll)
	)
	defer reread.Stop()
	defer poll.Stop()
	if r.cfg.CheckConffiles {
		rehash := time.NewTicker(r.cfg.ConffileInterval)
		defer rehash.Stop()
		conffC = rehash.C
	}
	for {
		pollC = nil
		if r.dir == "" {
			pollC = poll.C
		}
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-r.w.Events:
			if !ok {
				return errors.New("rpm: watcher closed")
			}
			if r.relevant(ev) {
				reread.Kick()
			}
		case err, ok := <-r.w.Errors:
			if !ok {
				return errors.New("rpm: watcher closed")
			}
			r.log.Warn("rpm watch error; rereading database", "err", err)
			reread.Kick()
		case <-reread.C():
			reread.Fired()
			if !r.refresh(true) && r.failures < readAttempts {
				reread.After(r.retryDelay)
			}
		case <-pollC:
			r.watch()
			r.refresh(false)
		case <-conffC:
			r.rehash()
		}
	}
}

// relevant reports whether ev may change the database, and notices the
// database directory going away.
func (r *run) relevant(ev fsnotify.Event) bool {
	if r.dir == "" {
		return false
	}
	if ev.Name == r.dir {
		if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			_ = r.w.Remove(r.dir)
			r.dir = ""
			return true
		}
		return false
	}
	if filepath.Dir(ev.Name) != r.dir {
		return false
	}
	base := filepath.Base(ev.Name)
	// The sqlite shared-memory index and lock files change on every read,
	// ours included; they carry no data.
	return !strings.HasSuffix(base, "-shm") && !strings.HasSuffix(base, ".lock")
}

// watch watches the database directory if it exists and is not watched.
func (r *run) watch() {
	if r.dir != "" {
		return
	}
	dir, err := hostpath.Resolve(r.root, r.cfg.DBPath)
	if err == nil {
		err = r.w.Add(dir)
	}
	switch {
	case err == nil:
		r.dir = dir
		r.gaps.Close("watch_failed", r.cfg.DBPath)
	case errors.Is(err, fs.ErrNotExist):
		// Polled for until it appears.
	default:
		r.log.Warn("rpm watch failed; polling", "dbpath", r.cfg.DBPath, "err", err)
		r.gaps.Open(plumbv1.CoverageState_COVERAGE_STATE_DEGRADED, "watch_failed", r.cfg.DBPath)
	}
}

// changed returns which packages of the next read keep their file
// digests, for the check of an upgrade: those whose key and version the
// last read did not have. Nil (none) before the first snapshot, whose
// packages are not checked.
func (r *run) changed() func(Package) bool {
	if !r.reported {
		return nil
	}
	had := make(map[[2]string]bool, len(r.pkgs))
	for _, p := range r.pkgs {
		k, v := packageKey(p)
		had[[2]string{k, v}] = true
	}
	return func(p Package) bool {
		k, v := packageKey(p)
		return !had[[2]string{k, v}]
	}
}

// PackageFiles implements pkgfact.FileReading for the last database read:
// the files of the key's versions that are new in it.
func (r *run) PackageFiles(key string) ([]pkgfact.File, error) {
	var files []pkgfact.File
	for _, p := range r.pkgs {
		if k, _ := packageKey(p); k == key {
			files = append(files, p.Files...)
		}
	}
	if r.filesTruncated {
		return files, errTooManyFiles
	}
	return files, nil
}

// errTooManyFiles says one read changed more packages' files than it
// keeps (maxKeptFiles).
var errTooManyFiles = errors.New("too many changed files in one database read to check them all")

// read reads the database into r.pkgs. A missing database reads as an
// empty one. Other errors are returned and leave the last state in place.
func (r *run) read() error {
	dir, err := hostpath.Resolve(r.root, r.cfg.DBPath)
	if err != nil {
		r.failures++
		return fmt.Errorf("rpm: resolve dbpath: %w", err)
	}
	stamp := fingerprint(dir)
	file, err := findDatabase(dir)
	if errors.Is(err, errNoDatabase) {
		r.pkgs, r.found, r.stamp, r.failures = nil, false, stamp, 0
		return nil
	}
	if err == nil {
		var pkgs []Package
		var truncated bool
		if pkgs, truncated, err = readDatabase(file, r.changed()); err == nil {
			r.pkgs, r.found, r.stamp, r.failures = pkgs, true, stamp, 0
			r.filesTruncated = truncated
			return nil
		}
	}
	r.failures++
	return fmt.Errorf("rpm: %w", err)
}

// refresh reads the database again and reports what changed; it returns
// false when the read failed. Unless forced (an event said it changed), it
// skips the read when the fingerprint is unchanged.
func (r *run) refresh(force bool) bool {
	if !force {
		if dir, err := hostpath.Resolve(r.root, r.cfg.DBPath); err == nil && fingerprint(dir) == r.stamp {
			return true
		}
	}
	wasFound := r.found
	if err := r.read(); err != nil {
		if r.failures >= readAttempts {
			// Keep the last good state: reporting it gone would be false drift.
			r.log.Warn("rpm database unreadable; keeping last state", "dbpath", r.cfg.DBPath, "err", err)
			r.gaps.Open(plumbv1.CoverageState_COVERAGE_STATE_DEGRADED, "unreadable", r.cfg.DBPath)
		}
		return false
	}
	r.gaps.Close("unreadable", r.cfg.DBPath)
	if wasFound && !r.found {
		r.log.Warn("rpm database vanished", "dbpath", r.cfg.DBPath)
	} else if !wasFound && r.found {
		r.log.Info("rpm database appeared", "dbpath", r.cfg.DBPath)
	}
	n := r.reporter.Update(r, time.Now().UnixNano())
	r.log.Debug("rpm database reread", "changes", n)
	return true
}

// rehash hashes every conffile again, to catch hand edits made while the
// database stayed the same.
func (r *run) rehash() {
	n := r.reporter.Rehash(r, time.Now().UnixNano())
	r.log.Debug("rpm conffiles rehashed", "changes", n)
}

// fingerprint summarises the database files' identity (size, mtime,
// inode), the sqlite write-ahead log included, so that a read can be
// skipped when nothing changed: opening an sqlite database creates and
// removes files beside it, and those events must not start a read loop.
func fingerprint(dir string) string {
	var sb strings.Builder
	for _, n := range append(dbFiles, "rpmdb.sqlite-wal") {
		sb.WriteString(filestamp.Of(filepath.Join(dir, n)))
		sb.WriteByte('|')
	}
	return sb.String()
}
