package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// tree is a generated directory of small files that a burst rewrites,
// deletes, recreates, chmods, moves and removes by whole directories: by
// default 2,000 files in 20 directories and five rounds of one change per
// file, 10,000 changes in all.
type tree struct {
	root  string
	dirs  int
	files int // per directory
}

// rounds is how many rounds a burst of the default tree runs.
const rounds = 5

// newTree generates a tree of dirs directories of files files each.
func newTree(t *testing.T, parent string, dirs, files int) *tree {
	t.Helper()
	tr := &tree{root: filepath.Join(parent, "etc"), dirs: dirs, files: files}
	for d := 0; d < tr.dirs; d++ {
		if err := os.MkdirAll(tr.dir(d, 0), 0o755); err != nil {
			t.Fatal(err)
		}
		for i := d * files; i < (d+1)*files; i++ {
			if err := os.WriteFile(tr.file(i, 0), tr.content(i, 0), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Symlink("d00/f0000", filepath.Join(tr.root, "link")); err != nil {
		t.Fatal(err)
	}
	return tr
}

func (tr *tree) n() int { return tr.dirs * tr.files }

// The last directory is renamed in round 2; the one before it is removed
// with its files in round 3 and made again in round 4.
func (tr *tree) movedDir() int   { return tr.dirs - 1 }
func (tr *tree) removedDir() int { return tr.dirs - 2 }

// dir is directory d's path during round r.
func (tr *tree) dir(d, r int) string {
	name := fmt.Sprintf("d%02d", d)
	if d == tr.movedDir() && r >= 2 {
		name = fmt.Sprintf("m%02d", d)
	}
	return filepath.Join(tr.root, name)
}

// file is file i's path during round r.
func (tr *tree) file(i, r int) string {
	return filepath.Join(tr.dir(i/tr.files, r), fmt.Sprintf("f%04d", i))
}

func (tr *tree) content(i, v int) []byte {
	// Every version differs from every other, so a value repeats within a
	// drift item's life only on a return to the baseline (version 0).
	return fmt.Appendf(nil, "file %d version %d\n%s", i, v, make([]byte, i%7))
}

// round applies round r (0-based) and returns the number of changes made:
// one per file, and the directory moves and removals. The mix, by file
// number:
//
//	r0: rewrite
//	r1: i%4==0 delete, else rewrite
//	r2: rename the last directory; i%4==0 recreate, i%4==1 chmod 0600,
//	    else rewrite
//	r3: remove the directory before it with its files (rm -rf); i%4==2
//	    chmod 0640, else rewrite
//	r4: make that directory again; i%5==0 back to the baseline (content
//	    and mode), else rewrite
func (tr *tree) round(r int) (int, error) {
	n := 0
	switch {
	case r == 2 && tr.movedDir() >= 0:
		if err := os.Rename(tr.dir(tr.movedDir(), 1), tr.dir(tr.movedDir(), 2)); err != nil {
			return n, err
		}
		n++
	case r == 3 && tr.removedDir() >= 0:
		if err := os.RemoveAll(tr.dir(tr.removedDir(), r)); err != nil {
			return n, err
		}
		n += tr.files
	case r == 4 && tr.removedDir() >= 0:
		if err := os.Mkdir(tr.dir(tr.removedDir(), r), 0o755); err != nil {
			return n, err
		}
		n++
	}
	for i := 0; i < tr.n(); i++ {
		if r == 3 && i/tr.files == tr.removedDir() {
			continue // gone with its directory
		}
		p := tr.file(i, r)
		var err error
		switch {
		case r == 1 && i%4 == 0:
			err = os.Remove(p)
		case r == 2 && i%4 == 1:
			err = os.Chmod(p, 0o600)
		case r == 3 && i%4 == 2:
			err = os.Chmod(p, 0o640)
		case r == 4 && i%5 == 0:
			if err = os.WriteFile(p, tr.content(i, 0), 0o644); err == nil {
				err = os.Chmod(p, 0o644)
			}
		default:
			err = os.WriteFile(p, tr.content(i, r+1), 0o644)
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// burst is a run of rounds on its own goroutine, so that the test can
// inject a fault while the changes keep coming.
type burst struct {
	roundDone []chan struct{} // closed after each round, by index from 0
	done      chan struct{}
	n         int   // changes made; read after done
	err       error // read after done
}

// burst runs rounds from..to-1 with pause between rounds, so the agent is
// mid-stream when a fault lands.
func (tr *tree) burst(from, to int, pause time.Duration) *burst {
	b := &burst{done: make(chan struct{})}
	for r := 0; r < to; r++ {
		b.roundDone = append(b.roundDone, make(chan struct{}))
	}
	go func() {
		defer close(b.done)
		for r := from; r < to; r++ {
			k, err := tr.round(r)
			b.n += k
			if err != nil {
				b.err = fmt.Errorf("round %d: %w", r, err)
				return
			}
			close(b.roundDone[r])
			if r+1 < to {
				time.Sleep(pause)
			}
		}
	}()
	return b
}

// after waits until round r is done.
func (b *burst) after(t *testing.T, r int) {
	t.Helper()
	select {
	case <-b.roundDone[r]:
	case <-b.done:
		if b.err != nil {
			t.Fatal(b.err)
		}
	}
}

// wait waits for the whole burst and returns the number of changes made.
func (b *burst) wait(t *testing.T) int {
	t.Helper()
	<-b.done
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.n
}
