package file

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"google.golang.org/protobuf/proto"

	"github.com/plumb-dev/plumb/agent/source"
	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

func lstat(t testing.TB, p string) *unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

func TestHashRegularRefusesWhatIsNotTheStatedFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	writeFile(t, p, "content")
	st := lstat(t, p)

	sum, _, got, err := hashRegular(openRegular, p, st, 0)
	want := sha256.Sum256([]byte("content"))
	if err != nil || !bytes.Equal(sum, want[:]) || got.Ino != st.Ino {
		t.Fatalf("hashRegular = %x, %v", sum, err)
	}

	cases := map[string]func(){
		"fifo": func() {
			if err := unix.Mkfifo(p, 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"other regular file": func() { writeFile(t, p, "content") },
		"symlink":            func() { _ = os.Symlink("/dev/zero", p) },
		"directory":          func() { mkdirAll(t, p) },
	}
	for name, replace := range cases {
		t.Run(name, func(t *testing.T) {
			// Keep what was there alive, so its inode is not reused.
			if err := os.Rename(p, p+"."+name); err != nil {
				t.Fatal(err)
			}
			replace()
			done := make(chan error, 1)
			go func() {
				_, _, _, err := hashRegular(openRegular, p, st, 0)
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, errChanged) {
					t.Errorf("err = %v, want errChanged", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("hashRegular blocked")
			}
		})
	}
}

func TestObserveSpecialFilesAreNotOpened(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o640); err != nil {
		t.Fatal(err)
	}
	opens := 0
	o := &observer{open: openRegular, opens: func() { opens++ }}
	for _, p := range []string{fifo, "/dev/null", dir} {
		a, _, err := o.observe(p, nil, nil, 0)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if a.GetSha256() != nil || a.GetSize() != 0 {
			t.Errorf("%s: sha %x size %d", p, a.GetSha256(), a.GetSize())
		}
	}
	if opens != 0 {
		t.Errorf("opened %d special files", opens)
	}
	if _, _, err := o.observe(filepath.Join(dir, "none"), nil, nil, 0); !errors.Is(err, errGone) {
		t.Errorf("missing path: %v, want errGone", err)
	}
}

// A rescan with nothing changed reuses recorded hashes (stat fast path),
// except for files hashed too soon after their last change.
func TestStatFastPath(t *testing.T) {
	root := t.TempDir()
	const n = 20
	for i := range n {
		writeFile(t, filepath.Join(root, "f"+strconv.Itoa(i)), "content "+strconv.Itoa(i))
	}
	src, err := newSource(testLogger(t), source.Options{Raw: map[string]any{"paths": []string{root}}})
	if err != nil {
		t.Fatal(err)
	}
	sink := newFakeSink(t)
	scan := func() {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		sink.onReady = cancel
		if err := src.Run(ctx, sink); err != nil {
			t.Fatal(err)
		}
	}
	// age pretends every recorded fact was observed long after its change.
	age := func() {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		for k, f := range sink.facts {
			g := proto.Clone(f).(*plumbv1.Fact)
			g.ObservedUnixNano = g.GetFile().GetCtimeUnixNano() + int64(time.Hour)
			sink.facts[k] = g
		}
	}

	scan()
	if got := src.stats.opens.Load(); got != n {
		t.Fatalf("first scan opened %d files, want %d", got, n)
	}
	first := sink.keysUnder(root)

	// Just hashed: too close to the files' ctime to trust; hashed again.
	scan()
	if got := src.stats.opens.Load(); got != 2*n {
		t.Fatalf("racy rescan opened %d files in total, want %d", got, 2*n)
	}

	age()
	scan()
	if got := src.stats.opens.Load(); got != 2*n {
		t.Errorf("unchanged rescan opened %d files, want none", got-2*n)
	}
	for k, f := range sink.keysUnder(root) {
		if !bytes.Equal(f.GetDigest(), first[k].GetDigest()) {
			t.Errorf("%s: digest changed on a fast-path rescan", k)
		}
	}

	// Same size, new content: ctime moves, so it is hashed again.
	changed := filepath.Join(root, "f3")
	writeFile(t, changed, "CONTENT 3")
	age()
	scan()
	if got := src.stats.opens.Load(); got != 2*n+1 {
		t.Errorf("rescan after one change opened %d files, want 1", got-2*n)
	}
	if !hasContent(sink, changed, []byte("CONTENT 3")) {
		t.Errorf("changed file not rehashed")
	}
}

// TestHashToEndReadsEveryByte checks hashToEnd, which spares the empty read
// at the end of a file, against crypto/sha256 over the bytes on disk: at
// and around multiples of the buffer, and with the stat size stale both
// ways (the file grew or shrank after fstat), when it must read on to the
// real end.
func TestHashToEndReadsEveryByte(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 15))
	dir := t.TempDir()
	const bufSize = 64
	for _, size := range []int{0, 1, bufSize - 1, bufSize, bufSize + 1, 3 * bufSize, 3*bufSize + 7, rng.IntN(10 * bufSize)} {
		for _, stale := range []int{0, -1, 1, -bufSize, bufSize} {
			content := make([]byte, size)
			for i := range content {
				content[i] = byte(rng.Uint32())
			}
			p := filepath.Join(dir, "f")
			if err := os.WriteFile(p, content, 0o644); err != nil {
				t.Fatal(err)
			}
			fd, err := unix.Open(p, unix.O_RDONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			err = hashToEnd(h, fd, make([]byte, bufSize), int64(size+stale))
			unix.Close(fd)
			want := sha256.Sum256(content)
			if err != nil || !bytes.Equal(h.Sum(nil), want[:]) {
				t.Fatalf("size %d, stat size %d: hash %x err %v, want %x", size, size+stale, h.Sum(nil), err, want)
			}
		}
	}
	// A short read before size is not the end: a pipe whose writer has
	// written only part gives one.
	var fds [2]int
	if err := unix.Pipe(fds[:]); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	content := bytes.Repeat([]byte("0123456789"), 20)
	go func() {
		defer unix.Close(fds[1])
		unix.Write(fds[1], content[:15])
		time.Sleep(50 * time.Millisecond)
		unix.Write(fds[1], content[15:])
	}()
	h := sha256.New()
	if err := hashToEnd(h, fds[0], make([]byte, bufSize), int64(len(content))); err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256(content); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatalf("pipe: hash %x, want %x (stopped at a short read before the stat size?)", h.Sum(nil), want)
	}
}
