package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Faults that need root: a small tmpfs that fills up, a lowered inotify
// queue. Each skips the test, saying why, where it is not permitted.

// mountTmpfs mounts a tmpfs of size bytes at dir for the test's lifetime.
// Register it before starting the processes that use dir, so that their
// cleanups (which stop them) run before the unmount.
func mountTmpfs(t *testing.T, dir string, size int64) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root or CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
}

// fill writes a filler file into dir until its filesystem is full and
// returns the filler's path and size.
func fill(t *testing.T, dir string) (string, int64) {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	var n int64
	for {
		k, err := f.Write(chunk)
		n += int64(k)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// Fill the last partial page too.
	for {
		k, err := f.Write(chunk[:512])
		n += int64(k)
		if err != nil {
			break
		}
	}
	return p, n
}

const maxQueuedEvents = "/proc/sys/fs/inotify/max_queued_events"

// lowerInotifyQueue sets fs.inotify.max_queued_events to n and returns a
// function that restores the old value (also registered as a cleanup).
// The limit is global and read when an inotify instance is created, so
// restore it as soon as the process under test has its instance: other
// tests running at the same time must not get a tiny queue.
func lowerInotifyQueue(t *testing.T, n int) (restore func()) {
	t.Helper()
	old, err := os.ReadFile(maxQueuedEvents)
	if err != nil {
		t.Skipf("cannot read %s: %v", maxQueuedEvents, err)
	}
	if err := os.WriteFile(maxQueuedEvents, []byte(fmt.Sprint(n)), 0o644); err != nil {
		t.Skipf("cannot lower the inotify queue (needs root in the initial namespace): %v", err)
	}
	done := false
	restore = func() {
		if done {
			return
		}
		done = true
		if err := os.WriteFile(maxQueuedEvents, old, 0o644); err != nil {
			t.Errorf("restore %s to %s: %v", maxQueuedEvents, strings.TrimSpace(string(old)), err)
		}
	}
	t.Cleanup(restore)
	return restore
}

// hasInotify reports whether process pid holds an inotify instance.
func hasInotify(pid int) bool {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return false
	}
	for _, fd := range fds {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && target == "anon_inode:inotify" {
			return true
		}
	}
	return false
}

// copyDir copies the regular files of src (not recursive) into dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		if out, err := exec.Command("cp", "--sparse=always", "-p", filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())).CombinedOutput(); err != nil {
			t.Fatalf("copy %s: %v: %s", e.Name(), err, out)
		}
	}
}
