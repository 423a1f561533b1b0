package file

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// With a debounce window far longer than the test, only the close-after-
// write signal can make the source read a rewritten file in time; and
// what it reads is the whole content, never the file between the writes
// of a writer that paused before closing.
func TestCloseAfterWriteIsReadWithoutWaitingForTheWindow(t *testing.T) {
	root := t.TempDir()
	f := filepath.Join(root, "conf")
	writeFile(t, f, "original\n")
	r := startSource(t, map[string]any{"paths": []string{root}, "debounce": "1h"}, hooks{})
	s := r.sink
	waitFor(t, "first content", func() bool { return hasContent(s, f, []byte("original\n")) })

	for i := range 5 {
		m := s.mark()
		fh, err := os.OpenFile(f, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fh.WriteString("part one\n"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // a writer preempted mid-write
		whole := "part one\npart two " + string(rune('a'+i)) + "\n"
		if _, err := fh.WriteString(whole[len("part one\n"):]); err != nil {
			t.Fatal(err)
		}
		if err := fh.Close(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "content after close", func() bool { return hasContent(s, f, []byte(whole)) })
		sum := sha256.Sum256([]byte(whole))
		for _, c := range s.since(m) {
			if c.op == "upsert" && c.key == f && !bytes.Equal(c.fact.GetFile().GetSha256(), sum[:]) {
				t.Fatalf("round %d: the file was reported with other content (size %d) before its writer closed it",
					i, c.fact.GetFile().GetSize())
			}
		}
	}
	if n := r.src.stats.closeWrites.Load(); n < 5 {
		t.Errorf("close-after-write signals handled: %d, want at least 5", n)
	}
}

// A source without the close-write instance still reads a rewritten
// file, when its window closes.
func TestWithoutCloseWriteTheWindowStillReads(t *testing.T) {
	root := t.TempDir()
	f := filepath.Join(root, "conf")
	writeFile(t, f, "original\n")
	r := startSource(t, map[string]any{"paths": []string{root}, "debounce": "20ms"}, hooks{noCloseWrite: true})
	waitFor(t, "first content", func() bool { return hasContent(r.sink, f, []byte("original\n")) })
	writeFile(t, f, "rewritten\n")
	waitFor(t, "rewritten content", func() bool { return hasContent(r.sink, f, []byte("rewritten\n")) })
	if n := r.src.stats.closeWrites.Load(); n != 0 {
		t.Errorf("close-after-write signals handled without the instance: %d", n)
	}
}

// parse takes what the kernel wrote, but checks every length: a buffer cut
// inside an event, or an event whose name runs past the buffer, ends the
// parse without a panic; a whole event before it is still delivered.
func TestCloseWriteParseIsBounded(t *testing.T) {
	c := &closeWrites{out: make(chan string, 4), byWd: map[int32]string{7: "/d"}, byPath: map[string]int32{"/d": 7}}
	ev := func(wd int32, mask uint32, name string, nameLen uint32) []byte {
		b := make([]byte, unix.SizeofInotifyEvent, unix.SizeofInotifyEvent+len(name))
		binary.NativeEndian.PutUint32(b[0:], uint32(wd))
		binary.NativeEndian.PutUint32(b[4:], mask)
		binary.NativeEndian.PutUint32(b[12:], nameLen)
		return append(b, name...)
	}
	good := ev(7, unix.IN_CLOSE_WRITE, "f\x00\x00\x00", 4)
	for _, tail := range [][]byte{
		ev(7, unix.IN_CLOSE_WRITE, "g", 1<<31), // name past the buffer
		ev(7, unix.IN_CLOSE_WRITE, "g", 0xffffffff),
		good[:5],                               // cut inside the header
		ev(8, unix.IN_CLOSE_WRITE, "h\x00", 2), // unknown watch
		ev(7, unix.IN_CLOSE_WRITE|unix.IN_ISDIR, "sub\x00", 4),
	} {
		c.parse(append(append([]byte{}, good...), tail...))
		select {
		case p := <-c.out:
			if p != "/d/f" {
				t.Fatalf("path %q, want /d/f", p)
			}
		default:
			t.Fatal("the whole event before a bad one was not delivered")
		}
		if len(c.out) != 0 {
			t.Fatalf("a bad event was delivered: %q", <-c.out)
		}
	}
}
