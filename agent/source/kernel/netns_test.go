package kernel

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/agent/source/sourcetest"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// helperEnv makes the test binary, re-executed inside a network
// namespace, run the kernel source there (TestNetnsHelper).
const helperEnv = "PLUMB_KERNEL_NETNS_HELPER"

// TestSysctlChangeInNetns changes a sysctl for real, in a network
// namespace of its own so the host is untouched, and checks that a kernel
// source running in that namespace reports the change.
func TestSysctlChangeInNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip(8) not installed (iproute2, see scripts/ci-deps.sh)")
	}
	ns := fmt.Sprintf("plumbtest-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace here: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	})
	hostBefore, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatal(err)
	}

	const interval = 100 * time.Millisecond
	helper := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestNetnsHelper$")
	helper.Env = append(os.Environ(), helperEnv+"="+interval.String())
	stdin, err := helper.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	helper.Stderr = os.Stderr
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		stdin.Close() // the helper stops its source and exits
		done := make(chan error, 1)
		go func() { done <- helper.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("helper: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = helper.Process.Kill()
			t.Error("helper did not exit")
		}
	})
	expect := func(want string, timeout time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		deadline := time.After(timeout)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("helper exited before printing %q", want)
				}
				if l == want {
					return time.Since(start)
				}
			case <-deadline:
				t.Fatalf("helper did not print %q within %v", want, timeout)
			}
		}
	}
	expect("snapshot net.ipv4.ip_forward=0", 10*time.Second)
	expect("ready", 5*time.Second)

	set := time.Now()
	if out, err := exec.Command("ip", "netns", "exec", ns, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward").CombinedOutput(); err != nil {
		t.Fatalf("set ip_forward in %s: %v: %s", ns, err, out)
	}
	expect("upsert net.ipv4.ip_forward=1", interval+3*time.Second)
	t.Logf("ip_forward change in the namespace reported %v after it was made (poll interval %v)", time.Since(set), interval)

	hostAfter, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatal(err)
	}
	if string(hostAfter) != string(hostBefore) {
		t.Errorf("host ip_forward changed from %q to %q", hostBefore, hostAfter)
	}
}

// TestNetnsHelper is not a test: TestSysctlChangeInNetns runs it in a
// network namespace. It runs a kernel source over net.ipv4 and prints the
// ip_forward facts it reports, until stdin closes.
func TestNetnsHelper(t *testing.T) {
	iv := os.Getenv(helperEnv)
	if iv == "" {
		t.Skip("helper process for TestSysctlChangeInNetns")
	}
	src, err := New(sourcetest.Logger(t), source.Options{HostRoot: "/", Raw: map[string]any{
		"interval": iv, "sysctl_prefixes": []string{"net.ipv4"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	if err := src.Run(ctx, &printSink{}); err != nil {
		t.Fatal(err)
	}
}

// printSink prints what the helper's source reports about ip_forward.
type printSink struct {
	mu       sync.Mutex
	snapshot bool
}

func (p *printSink) print(f string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Printf(f+"\n", args...)
}

func (p *printSink) Upsert(f *plumbv1.Fact) {
	if string(f.GetKey()) != "net.ipv4.ip_forward" {
		return
	}
	verb := "upsert"
	if p.snapshot {
		verb = "snapshot"
	}
	p.print("%s %s=%s", verb, f.GetKey(), f.GetValue().GetValue())
}

func (p *printSink) Keep(fact.Key)               {}
func (p *printSink) Hold(source.Scope)           {}
func (p *printSink) Delete(k fact.Key)           { p.print("delete %s", k) }
func (p *printSink) Begin(source.Scope)          { p.snapshot = true }
func (p *printSink) End(source.Scope)            { p.snapshot = false }
func (p *printSink) Ready()                      { p.print("ready") }
func (p *printSink) Coverage(c source.Condition) { p.print("coverage %v %s", c.State, c.Reason) }
func (p *printSink) Lookup(fact.Key) (*plumbv1.Fact, bool) {
	return nil, false
}
