package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// addNetns creates a network namespace with its loopback up, deleted when
// the test ends. It skips the test where namespaces cannot be made.
func addNetns(t *testing.T, prefix string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip(8) not installed (iproute2)")
	}
	ns := fmt.Sprintf("%s-%d", prefix, os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace here: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	})
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("bring up lo in %s: %v: %s", ns, err, out)
	}
	return ns
}

// inNetns runs fn on an OS thread switched into network namespace ns.
// Sockets fn creates belong to ns for their whole life, whichever thread
// uses them later.
func inNetns(ns string, fn func() error) error {
	target, err := os.Open(filepath.Join("/run/netns", ns))
	if err != nil {
		return fmt.Errorf("open netns %s: %w", ns, err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open own netns: %w", err)
			return
		}
		defer home.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter netns %s: %w", ns, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(home.Fd()), unix.CLONE_NEWNET); err != nil {
			// The thread stays locked, so the runtime retires it when
			// this goroutine ends instead of reusing it in ns.
			errc <- errors.Join(ferr, fmt.Errorf("leave netns %s: %w", ns, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// listenInNetns listens on a free loopback port inside ns until the test
// ends.
func listenInNetns(t *testing.T, ns string) net.Listener {
	t.Helper()
	var ln net.Listener
	err := inNetns(ns, func() (err error) {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// freeAddrInNetns returns a loopback address inside ns that nothing
// listens on.
func freeAddrInNetns(t *testing.T, ns string) string {
	t.Helper()
	ln := listenInNetns(t, ns)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// dialInNetns connects to addr from inside ns.
func dialInNetns(ns, addr string) (net.Conn, error) {
	var c net.Conn
	err := inNetns(ns, func() (err error) {
		c, err = net.DialTimeout("tcp", addr, 2*time.Second)
		return err
	})
	return c, err
}

// relay joins every connection accepted on ln to a new one from dial,
// until the test ends: a port in one network namespace that leads to a
// server in another.
func relay(t *testing.T, ln net.Listener, dial func() (net.Conn, error)) {
	var (
		mu    sync.Mutex
		conns = map[net.Conn]bool{} // guarded by mu
	)
	track := func(c net.Conn, add bool) {
		mu.Lock()
		defer mu.Unlock()
		if add {
			conns[c] = true
		} else {
			delete(conns, c)
		}
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				track(down, true)
				defer track(down, false)
				defer down.Close()
				up, err := dial()
				if err != nil {
					return
				}
				track(up, true)
				defer track(up, false)
				defer up.Close()
				done := make(chan struct{}, 2)
				go func() { io.Copy(up, down); done <- struct{}{} }()
				go func() { io.Copy(down, up); done <- struct{}{} }()
				<-done // either side closing ends both
			}()
		}
	}()
}

// startInNetns starts a binary inside ns (ip netns exec), as start does.
func startInNetns(t *testing.T, ns, name, path string, args ...string) *proc {
	t.Helper()
	return start(t, name, "ip", append([]string{"netns", "exec", ns, path}, args...)...)
}
