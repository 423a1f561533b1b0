package bench

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The yardsticks the agent is compared with. Each returns its wall time
// and fails the benchmark if it did not see the whole tree.

// bareWalkHash is the floor for an initial scan: filepath.WalkDir feeding
// two workers that SHA-256 every regular file, with no watches, facts,
// state or network.
func bareWalkHash(b *testing.B, t *tree) time.Duration {
	b.Helper()
	var hashed atomic.Int64
	start := time.Now()
	paths := make(chan string, 256)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			buf := make([]byte, 128<<10)
			h := sha256.New()
			for p := range paths {
				f, err := os.Open(p)
				if err != nil {
					continue
				}
				h.Reset()
				if _, err := io.CopyBuffer(h, f, buf); err == nil {
					h.Sum(nil)
					hashed.Add(1)
				}
				f.Close()
			}
		})
	}
	err := filepath.WalkDir(t.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			paths <- p
		}
		return err
	})
	close(paths)
	wg.Wait()
	took := time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	if n := hashed.Load(); n != int64(t.files) {
		b.Fatalf("bare walk hashed %d files, want %d", n, t.files)
	}
	return took
}

// bareLstatWalk is the floor for an unchanged rescan: a walk that lstats
// every entry.
func bareLstatWalk(b *testing.B, t *tree) time.Duration {
	b.Helper()
	n := 0
	start := time.Now()
	err := filepath.WalkDir(t.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if _, err := d.Info(); err != nil {
			return err
		}
		n++
		return nil
	})
	took := time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	if n != t.files+t.dirs {
		b.Fatalf("lstat walk saw %d entries, want %d", n, t.files+t.dirs)
	}
	return took
}

// sha256sum runs coreutils over the tree, two processes at a time.
func sha256sum(b *testing.B, t *tree) time.Duration {
	b.Helper()
	cmd := exec.Command("sh", "-c", `find "$1" -type f -print0 | xargs -0 -P2 sha256sum >/dev/null`, "sh", t.dir)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err != nil {
		b.Fatalf("find | xargs sha256sum: %v\n%s", err, out)
	}
	return took
}

// aide drives AIDE over one tree with a minimal configuration: the same
// attributes the agent records, SHA-256 only, two workers like the agent.
type aide struct {
	path   string // the aide binary; "" when not installed
	dir    string
	config string
}

func newAide(b *testing.B, t *tree) *aide {
	b.Helper()
	path, err := exec.LookPath("aide")
	if err != nil {
		return &aide{}
	}
	dir := scratch(b, "aide")
	a := &aide{path: path, dir: dir, config: filepath.Join(dir, "aide.conf")}
	conf := fmt.Sprintf(`database_in=file:%[1]s/aide.db
database_out=file:%[1]s/aide.db.new
gzip_dbout=no
num_workers=2
report_url=stdout
%[2]s p+i+n+u+g+s+m+c+sha256
`, dir, t.dir)
	if err := os.WriteFile(a.config, []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	return a
}

func (a *aide) installed() bool { return a.path != "" }

// init builds AIDE's database of the tree and installs it as the one
// --check compares with.
func (a *aide) init(b *testing.B) time.Duration {
	b.Helper()
	took := a.run(b, "--init")
	if err := os.Rename(filepath.Join(a.dir, "aide.db.new"), filepath.Join(a.dir, "aide.db")); err != nil {
		b.Fatal(err)
	}
	return took
}

// check compares the tree with the database; nothing may have changed.
func (a *aide) check(b *testing.B) time.Duration {
	b.Helper()
	return a.run(b, "--check")
}

func (a *aide) run(b *testing.B, mode string) time.Duration {
	b.Helper()
	cmd := exec.Command(a.path, "--config", a.config, mode)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err != nil {
		// AIDE's exit status is a bit set of what differed (1 added,
		// 2 removed, 4 changed); anything is a failure here.
		b.Fatalf("aide %s: %v\n%s", mode, err, out)
	}
	return took
}
