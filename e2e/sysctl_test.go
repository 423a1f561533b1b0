package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestSysctlDriftInNetns changes a sysctl for real and follows it end to
// end. It works in a network namespace of its own, so the host's settings
// stay untouched: the agent (kernel source, polling every 200 ms), the
// collector and the port the collector posts webhooks to all live in the
// namespace; relays carry the webhooks out to the test's receiver and
// plumbctl's calls in to the collector.
func TestSysctlDriftInNetns(t *testing.T) {
	t.Parallel()
	ns := addNetns(t, "plumbe2e")
	dir := t.TempDir()
	const host = "netns-host"

	h := newHook(t)
	hookIn := listenInNetns(t, ns)
	relay(t, hookIn, func() (net.Conn, error) { return net.Dial("tcp", h.srv.Listener.Addr().String()) })

	colAddr := freeAddrInNetns(t, ns)
	startInNetns(t, ns, "collector", bin.collector, "--listen", colAddr,
		"--data", filepath.Join(dir, "collector"), "--log-level", "debug",
		"--webhook-url", "http://"+hookIn.Addr().String(),
		"--webhook-group", "group_wait=300ms", "--webhook-group", "group_interval=500ms")
	ctlIn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	relay(t, ctlIn, func() (net.Conn, error) { return dialInNetns(ns, colAddr) })
	addr := ctlIn.Addr().String()
	useCollector(colAddr, filepath.Join(dir, "collector"), false, addr)
	useCollector(addr, filepath.Join(dir, "collector"), false, addr)

	cfg := writeAgentConfig(t, dir, "sources:\n  kernel:\n    interval: 200ms\n    sysctl_prefixes: [net.ipv4]\n")
	startInNetns(t, ns, "agent "+host, bin.agent,
		sourcesAgentArgs(t, colAddr, filepath.Join(dir, "agent"), host, "kernel", "--config", cfg)...)
	waitBaseline(t, addr, host)

	const key = "net.ipv4.ip_forward"
	if v := hostFacts(t, addr, host, "sysctl")[key].attr("value"); v != "0" {
		t.Fatalf("%s in a fresh namespace: fact value %q, want 0", key, v)
	}
	hostBefore, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatal(err)
	}
	set := func(v string) time.Time {
		t.Helper()
		cmd := exec.Command("ip", "netns", "exec", ns, "sh", "-c", "echo "+v+" > /proc/sys/net/ipv4/ip_forward")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("set %s=%s in %s: %v: %s", key, v, ns, err, out)
		}
		return time.Now()
	}

	at := set("1")
	ev := h.await(t, hookWait, "ip_forward on", is("drift.opened", host, "modified", key))
	t.Logf("sysctl write to drift.opened webhook: %v (poll interval 200ms)", time.Since(at))
	if ev.Kind != "sysctl" || eventAttr(ev, true, "value") != "0" || eventAttr(ev, false, "value") != "1" {
		t.Errorf("opened event: kind %s baseline %v current %v; want sysctl 0 -> 1", ev.Kind, ev.Baseline, ev.Current)
	}

	at = set("0")
	res := h.await(t, hookWait, "ip_forward back off", is("drift.resolved", host, "", key))
	t.Logf("sysctl write back to drift.resolved webhook: %v", time.Since(at))
	if res.ItemID != ev.ItemID {
		t.Errorf("resolved item %s, opened item %s", res.ItemID, ev.ItemID)
	}

	hostAfter, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatal(err)
	}
	if string(hostAfter) != string(hostBefore) {
		t.Errorf("the host's ip_forward changed from %q to %q", hostBefore, hostAfter)
	}
}
