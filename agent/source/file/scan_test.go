package file

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/pkg/fact"
	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

func TestInitialSnapshot(t *testing.T) {
	root := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB: several buffers
	mkdirAll(t, filepath.Join(root, "sub", "deeper"))
	writeFile(t, filepath.Join(root, "a.conf"), "alpha\n")
	if err := os.WriteFile(filepath.Join(root, "sub", "big"), big, 0o600); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "sub", "deeper", "empty"), "")
	if err := unix.Chmod(filepath.Join(root, "a.conf"), 0o4751); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nonexistent/target", filepath.Join(root, "dangling")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub", filepath.Join(root, "todir")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(root, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", filepath.Join(root, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	odd := filepath.Join(root, "bad\xffname")
	writeFile(t, odd, "odd")
	mkdirAll(t, filepath.Join(root, "skip.d", "inner"))
	writeFile(t, filepath.Join(root, "skip.d", "inner", "x"), "x")
	writeFile(t, filepath.Join(root, "sub", "file.swp"), "swap")

	r := startSource(t, map[string]any{
		"paths":   []string{root},
		"exclude": []string{"**/skip.d", "**/*.swp"},
		"workers": 2,
	}, hooks{})
	s := r.sink

	// One snapshot of the root, then Ready.
	var ops []string
	for _, c := range s.log() {
		if c.op == "begin" || c.op == "end" || c.op == "ready" {
			ops = append(ops, c.op+" "+c.key)
		}
	}
	if want := []string{"begin " + root, "end " + root, "ready "}; !equalStrings(ops, want) {
		t.Errorf("snapshot calls = %q, want %q", ops, want)
	}

	want := map[string]plumbv1.FileType{
		root:                       plumbv1.FileType_FILE_TYPE_DIRECTORY,
		root + "/a.conf":           plumbv1.FileType_FILE_TYPE_REGULAR,
		root + "/sub":              plumbv1.FileType_FILE_TYPE_DIRECTORY,
		root + "/sub/big":          plumbv1.FileType_FILE_TYPE_REGULAR,
		root + "/sub/deeper":       plumbv1.FileType_FILE_TYPE_DIRECTORY,
		root + "/sub/deeper/empty": plumbv1.FileType_FILE_TYPE_REGULAR,
		root + "/dangling":         plumbv1.FileType_FILE_TYPE_SYMLINK,
		root + "/todir":            plumbv1.FileType_FILE_TYPE_SYMLINK,
		root + "/fifo":             plumbv1.FileType_FILE_TYPE_FIFO,
		root + "/sock":             plumbv1.FileType_FILE_TYPE_SOCKET,
		odd:                        plumbv1.FileType_FILE_TYPE_REGULAR,
	}
	got := s.keysUnder(root)
	for p, typ := range want {
		f, ok := got[p]
		if !ok {
			t.Errorf("no fact for %s", fact.Display([]byte(p)))
			continue
		}
		if f.GetFile().GetType() != typ {
			t.Errorf("%s: type %v, want %v", fact.Display([]byte(p)), f.GetFile().GetType(), typ)
		}
		if f.GetKind() != plumbv1.FactKind_FACT_KIND_FILE || !bytes.Equal(f.GetKey(), []byte(p)) {
			t.Errorf("%s: kind %v key %q", p, f.GetKind(), f.GetKey())
		}
		if f.GetObservedUnixNano() == 0 {
			t.Errorf("%s: observed time not set", p)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("unexpected fact %s (excluded or not in the tree)", fact.Display([]byte(p)))
		}
	}

	a := got[root+"/a.conf"].GetFile()
	sum := sha256.Sum256([]byte("alpha\n"))
	if !bytes.Equal(a.GetSha256(), sum[:]) || a.GetSize() != 6 || a.GetMode() != 0o4751 {
		t.Errorf("a.conf attrs = %v", a)
	}
	var st unix.Stat_t
	if err := unix.Lstat(root+"/a.conf", &st); err != nil {
		t.Fatal(err)
	}
	if a.GetInode() != st.Ino || a.GetDevice() != st.Dev || a.GetUid() != st.Uid || a.GetGid() != st.Gid ||
		a.GetMtimeUnixNano() != st.Mtim.Nano() || a.GetCtimeUnixNano() != st.Ctim.Nano() {
		t.Errorf("a.conf volatile attrs = %v, stat %+v", a, st)
	}
	bigSum := sha256.Sum256(big)
	if b := got[root+"/sub/big"].GetFile(); !bytes.Equal(b.GetSha256(), bigSum[:]) || b.GetSize() != int64(len(big)) || b.GetMode() != 0o600 {
		t.Errorf("big attrs: size %d mode %o", b.GetSize(), b.GetMode())
	}
	emptySum := sha256.Sum256(nil)
	if e := got[root+"/sub/deeper/empty"].GetFile(); !bytes.Equal(e.GetSha256(), emptySum[:]) {
		t.Errorf("empty file sha256 = %x", e.GetSha256())
	}
	if l := got[root+"/dangling"].GetFile(); string(l.GetLinkTarget()) != "/nonexistent/target" || l.GetSize() != int64(len("/nonexistent/target")) || l.GetSha256() != nil {
		t.Errorf("dangling symlink attrs = %v", l)
	}
	if l := got[root+"/todir"].GetFile(); string(l.GetLinkTarget()) != "sub" {
		t.Errorf("todir symlink attrs = %v", l)
	}
	for _, p := range []string{"/fifo", "/sock", "/sub"} {
		if f := got[root+p].GetFile(); f.GetSha256() != nil || f.GetSize() != 0 {
			t.Errorf("%s: size %d sha %x, want neither", p, f.GetSize(), f.GetSha256())
		}
	}
	oddSum := sha256.Sum256([]byte("odd"))
	if o := got[odd]; !bytes.Equal(o.GetFile().GetSha256(), oddSum[:]) {
		t.Errorf("non-UTF-8 name: %v", o)
	}
	if n := r.src.stats.opens.Load(); n != 4 {
		t.Errorf("opened %d files for hashing, want the 4 regular ones", n)
	}
}

func TestSymlinkRootIsNotFollowed(t *testing.T) {
	base := t.TempDir()
	target := filepath.Join(base, "real")
	mkdirAll(t, filepath.Join(target, "d"))
	writeFile(t, filepath.Join(target, "d", "f"), "secret")
	link := filepath.Join(base, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	r := startSource(t, map[string]any{"paths": []string{link}}, hooks{})
	got := r.sink.keysUnder(link)
	if len(got) != 1 {
		t.Fatalf("facts under symlink root = %d, want only the link itself: %v", len(got), got)
	}
	if f := got[link].GetFile(); f.GetType() != plumbv1.FileType_FILE_TYPE_SYMLINK || string(f.GetLinkTarget()) != target {
		t.Errorf("root fact = %v", f)
	}
	if n := r.src.stats.opens.Load(); n != 0 {
		t.Errorf("opened %d files through a symlink root", n)
	}
	// The link is re-pointed (ln -sfn): reported, still not followed.
	tmp := filepath.Join(base, "link.tmp")
	if err := os.Symlink("/elsewhere", tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "re-pointed root link", func() bool {
		f, ok := r.sink.get(link)
		return ok && string(f.GetFile().GetLinkTarget()) == "/elsewhere"
	})
	if _, ok := r.sink.get(tmp); ok {
		t.Errorf("temporary link outside the root reported")
	}
}

func TestHostRootKeys(t *testing.T) {
	host := t.TempDir()
	mkdirAll(t, filepath.Join(host, "etc", "ssh"))
	writeFile(t, filepath.Join(host, "etc", "ssh", "sshd_config"), "Port 22\n")
	writeFile(t, filepath.Join(host, "etc", "ignored.bak"), "x")
	src, err := newSource(testLogger(t), source.Options{HostRoot: host, Raw: map[string]any{
		"exclude": []string{"/etc/*.bak"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	sink := newFakeSink(t)
	ctx, cancel := context.WithCancel(context.Background())
	sink.onReady = cancel
	if err := src.Run(ctx, sink); err != nil {
		t.Fatal(err)
	}
	got := sink.keysUnder("/")
	for _, k := range []string{"/etc", "/etc/ssh", "/etc/ssh/sshd_config"} {
		if _, ok := got[k]; !ok {
			t.Errorf("no fact %s; have %v", k, keysOf(got))
		}
	}
	if len(got) != 3 {
		t.Errorf("facts = %v, want 3 (host paths, .bak excluded)", keysOf(got))
	}
	if c := sink.log()[0]; c.op != "begin" || c.scope.Prefix != "/etc" || c.scope.Kind != plumbv1.FactKind_FACT_KIND_FILE {
		t.Errorf("first call = %+v, want begin of scope /etc", c)
	}
}

func keysOf(m map[string]*plumbv1.Fact) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A scan cancelled midway returns promptly, without ending its snapshot.
func TestRunCancelledDuringScan(t *testing.T) {
	root := t.TempDir()
	for i := range 300 {
		writeFile(t, filepath.Join(root, "f"+strconv.Itoa(i)), "x")
	}
	src, err := newSource(testLogger(t), source.Options{Raw: map[string]any{"paths": []string{root}, "workers": 1}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	src.hooks.openFile = func(p string) (int, error) {
		n++
		if n == 10 {
			cancel()
		}
		return openRegular(p)
	}
	sink := newFakeSink(t)
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	for _, c := range sink.log() {
		if c.op == "end" || c.op == "ready" {
			t.Errorf("cancelled scan called %s", c.op)
		}
	}
}
