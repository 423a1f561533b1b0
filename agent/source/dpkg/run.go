package dpkg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/agent/source/filestamp"
	"github.com/plumb-dev/plumb/agent/source/gapset"
	"github.com/plumb-dev/plumb/agent/source/pkgfact"
	"github.com/plumb-dev/plumb/agent/source/settle"
	"github.com/plumb-dev/plumb/agent/source/snapshot"
)

var _ source.Source = (*Source)(nil)

// Source reports the dpkg database. It watches the directory holding the
// status file, because dpkg replaces the file by rename, and the journal
// directory beside it.
type Source struct {
	log        *slog.Logger
	cfg        Config
	root       string
	statusPath string
	updatesDir string
	// debounce is the quiet time after the last database event before it
	// is read again; maxDelay bounds the wait during a long dpkg run.
	debounce, maxDelay time.Duration
	// missingPoll is how often the source looks for a database it cannot
	// watch (missing directory, watch refused).
	missingPoll time.Duration
}

// run is the state of one Run call; only Run's goroutine touches it.
type run struct {
	*Source
	sink     source.Sink
	w        *fsnotify.Watcher
	watching map[string]bool // directories with a watch
	pkgs     []Package       // last database read
	found    bool            // the status file existed at the last read
	stamp    string          // database fingerprint at the last read
	reporter *pkgfact.Reporter
	infoDir  string // dpkg's info directory, beside the status file
	gaps     *gapset.Set
}

var (
	_ pkgfact.Reading     = (*run)(nil)
	_ pkgfact.FileReading = (*run)(nil)
)

// PackageFiles implements pkgfact.FileReading for the last database read.
func (r *run) PackageFiles(key string) ([]pkgfact.File, error) {
	for _, p := range r.pkgs {
		if p.Key() == key && p.Installed() {
			return packageFiles(r.infoDir, p)
		}
	}
	return nil, fmt.Errorf("package %s not installed", key)
}

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
		return fmt.Errorf("dpkg: start watcher: %w", err)
	}
	defer w.Close()
	r := &run{
		Source: s, sink: sink, w: w, watching: map[string]bool{},
		gaps:     gapset.New(sink),
		reporter: pkgfact.NewReporter(sink, manager, s.cfg.CheckConffiles),
		infoDir:  filepath.Join(filepath.Dir(s.statusPath), "info"),
	}
	r.reporter.CheckUpgrades(s.log, s.root, pkgfact.DefaultLimits())

	// Watch before the first read, so that no change slips in between.
	r.addWatches()
	start := time.Now()
	if err := r.read(); err != nil {
		return err
	}
	if !r.found {
		s.log.Info("dpkg status file not found; watching for it", "path", s.statusPath)
	}
	r.reporter.Snapshot(r, time.Now().UnixNano())
	sink.Ready()
	pkgs, confs := r.reporter.Counts()
	s.log.Debug("dpkg snapshot done", "packages", pkgs, "conffiles", confs, "duration", time.Since(start))
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
		if r.fullyWatched() {
			pollC = nil
		} else {
			pollC = poll.C
		}
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-r.w.Events:
			if !ok {
				return errors.New("dpkg: watcher closed")
			}
			if r.relevant(ev) {
				reread.Kick()
			}
		case err, ok := <-r.w.Errors:
			if !ok {
				return errors.New("dpkg: watcher closed")
			}
			// An overflow may have hidden a change: read again.
			r.log.Warn("dpkg watch error; rereading database", "err", err)
			reread.Kick()
		case <-reread.C():
			reread.Fired()
			r.refresh(true)
		case <-pollC:
			r.addWatches()
			r.refresh(false)
		case <-conffC:
			r.rehash()
		}
	}
}

// relevant reports whether ev may change the database, and keeps the
// watches in step with directories that appear and vanish.
func (r *run) relevant(ev fsnotify.Event) bool {
	dir := filepath.Dir(r.statusPath)
	switch {
	case ev.Name == r.statusPath:
		return true
	case ev.Name == r.updatesDir:
		if ev.Has(fsnotify.Create) {
			r.addWatches()
		} else if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			delete(r.watching, r.updatesDir)
		}
		return true
	case filepath.Dir(ev.Name) == r.updatesDir:
		return isJournalName(filepath.Base(ev.Name))
	case ev.Name == dir && (ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)):
		delete(r.watching, dir)
		delete(r.watching, r.updatesDir)
		return true
	}
	return false
}

// addWatches watches the status file's directory and the journal
// directory where they exist and are not yet watched.
func (r *run) addWatches() {
	for _, d := range []string{filepath.Dir(r.statusPath), r.updatesDir} {
		if r.watching[d] {
			continue
		}
		err := r.w.Add(d)
		switch {
		case err == nil:
			r.watching[d] = true
			r.gaps.Close("watch_failed", d)
		case errors.Is(err, fs.ErrNotExist):
			// Polled for until it appears (status dir) or picked up by the
			// Create event in the status dir (journal dir).
		default:
			r.log.Warn("dpkg watch failed; polling", "path", d, "err", err)
			r.gaps.Open(plumbv1.CoverageState_COVERAGE_STATE_DEGRADED, "watch_failed", d)
		}
	}
}

// fullyWatched reports whether events cover every change: the status
// directory is watched (the journal dir is found through its Create event).
func (r *run) fullyWatched() bool {
	return r.watching[filepath.Dir(r.statusPath)]
}

// read reads the database into r.pkgs. A missing status file reads as an
// empty database. Other errors are returned and leave r unchanged.
func (r *run) read() error {
	stamp := r.fingerprint()
	pkgs, err := readDatabase(r.statusPath, r.updatesDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.pkgs, r.found, r.stamp = nil, false, stamp
		return nil
	case err != nil:
		return fmt.Errorf("dpkg: read database: %w", err)
	}
	r.pkgs, r.found, r.stamp = pkgs, true, stamp
	return nil
}

// refresh reads the database again and reports what changed. Unless
// forced (an event said it changed), it skips the read when the
// fingerprint is unchanged.
func (r *run) refresh(force bool) {
	if !force && r.fingerprint() == r.stamp {
		return
	}
	wasFound := r.found
	if err := r.read(); err != nil {
		// Keep the last good state: reporting it gone would be false drift.
		r.log.Warn("dpkg database unreadable; keeping last state", "path", r.statusPath, "err", err)
		r.gaps.Open(plumbv1.CoverageState_COVERAGE_STATE_DEGRADED, "unreadable", r.statusPath)
		return
	}
	r.gaps.Close("unreadable", r.statusPath)
	if wasFound && !r.found {
		r.log.Warn("dpkg status file vanished", "path", r.statusPath)
	} else if !wasFound && r.found {
		r.log.Info("dpkg status file appeared", "path", r.statusPath)
	}
	n := r.reporter.Update(r, time.Now().UnixNano())
	r.log.Debug("dpkg database reread", "changes", n)
}

// rehash hashes every conffile again, to catch hand edits made while the
// database stayed the same.
func (r *run) rehash() {
	n := r.reporter.Rehash(r, time.Now().UnixNano())
	r.log.Debug("dpkg conffiles rehashed", "changes", n)
}

// fingerprint summarises the database files' identity (size, mtime,
// inode) so polling can skip an unchanged database.
func (r *run) fingerprint() string {
	s := filestamp.Of(r.statusPath)
	names, _ := journalFiles(r.updatesDir)
	for _, n := range names {
		s += "|" + n + filestamp.Of(filepath.Join(r.updatesDir, n))
	}
	return s
}
