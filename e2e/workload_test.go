package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// tree is a generated directory of small files that a burst rewrites,
// deletes, recreates and chmods: 2,000 files in 20 directories, five
// rounds of one change per file, 10,000 changes in all.
type tree struct {
	root  string
	dirs  int
	files int // per directory
}

func newTree(t *testing.T, parent string) *tree {
	t.Helper()
	tr := &tree{root: filepath.Join(parent, "etc"), dirs: 20, files: 100}
	for d := 0; d < tr.dirs; d++ {
		if err := os.MkdirAll(tr.dir(d), 0o755); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < tr.files; i++ {
			if err := os.WriteFile(tr.file(d*tr.files+i), tr.content(d*tr.files+i, 0), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Symlink("d00/f0000", filepath.Join(tr.root, "link")); err != nil {
		t.Fatal(err)
	}
	return tr
}

// rounds is how many rounds burst runs; each changes every file once.
const rounds = 5

func (tr *tree) n() int            { return tr.dirs * tr.files }
func (tr *tree) dir(d int) string  { return filepath.Join(tr.root, fmt.Sprintf("d%02d", d)) }
func (tr *tree) file(i int) string { return filepath.Join(tr.dir(i/tr.files), fmt.Sprintf("f%04d", i)) }
func (tr *tree) content(i, v int) []byte {
	// Every version differs from every other, so no digest repeats within
	// one drift item's life except a return to the baseline (version 0).
	return fmt.Appendf(nil, "file %d version %d\n%s", i, v, make([]byte, i%7))
}

// round applies round r (0-based) to every file and returns the number of
// changes made. The mix, by file number:
//
//	r0: rewrite
//	r1: i%4==0 delete, else rewrite
//	r2: i%4==0 recreate, i%4==1 chmod 0600, else rewrite
//	r3: i%4==2 chmod 0640, else rewrite
//	r4: i%5==0 back to the baseline (content and mode), else rewrite
func (tr *tree) round(r int) (int, error) {
	n := 0
	for i := 0; i < tr.n(); i++ {
		p := tr.file(i)
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
