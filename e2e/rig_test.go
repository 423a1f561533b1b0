package e2e

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rig is one collector, one webhook receiver and one agent watching a
// generated tree, each restartable in place: the collector on the same
// address and data, the agent with the same state and metrics address.
type rig struct {
	dir     string
	host    string
	tree    *tree
	hook    *hook
	col     *collector
	colAddr string
	colData string
	agent   *proc
	state   string
	metrics string // agent's
	// colMetrics is the collector's metrics address, if
	// rigOptions.colMetrics.
	colMetrics string
	baseline   diskState
	restores   []int
	cut        *netCut // the agent's link, if it runs in a namespace
	procs      []*proc // every agent and collector started
	spoolMiB   int
	starts     int // agent starts, to name their outputs
}

// reconnectMax is the agent's longest reconnect backoff in these tests.
const reconnectMax = time.Second

type rigOptions struct {
	colData string // default dir/collector
	state   string // default dir/agent
	// noAgent leaves starting the agent to the test.
	noAgent bool
	// colMetrics serves the collector's metrics (rig.colMetrics).
	colMetrics bool
	// cut runs the agent in this namespace, reaching the collector over
	// a link the test can cut.
	cut *netCut
	// dirs of files files in the tree; default 20 of 100.
	dirs, files int
	// spoolMiB bounds the agent's spool; default the agent's.
	spoolMiB int
}

func newRig(t *testing.T, host string, o rigOptions) *rig {
	t.Helper()
	dir := t.TempDir()
	r := &rig{dir: dir, host: host, colData: o.colData, state: o.state, cut: o.cut, spoolMiB: o.spoolMiB}
	if r.colData == "" {
		r.colData = filepath.Join(dir, "collector")
	}
	if r.state == "" {
		r.state = filepath.Join(dir, "agent")
	}
	if o.dirs == 0 {
		o.dirs = 20
	}
	if o.files == 0 {
		o.files = 100
	}
	r.tree = newTree(t, treeDir(t, dir), o.dirs, o.files)
	r.hook = newHook(t)
	r.colAddr = freeAddr(t)
	r.metrics = freeAddr(t)
	if o.cut != nil {
		r.colAddr = net.JoinHostPort(o.cut.hostIP, portOf(r.colAddr))
		r.metrics = net.JoinHostPort(o.cut.nsIP, portOf(r.metrics))
	}
	if o.colMetrics {
		r.colMetrics = freeAddr(t)
	}
	r.restartCollector(t)
	if !o.noAgent {
		r.startAgent(t)
		r.awaitBaseline(t)
	}
	return r
}

// treeDir returns where to generate the tree: a tmpfs under dir where one
// can be mounted. On ext4 every truncating rewrite forces writeback at
// close (auto_da_alloc), which would make the test's own writes the
// bottleneck of a 10,000-change burst.
func treeDir(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "tree")
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", p, "tmpfs", 0, "size=64m,mode=0755"); err != nil {
		t.Logf("tree on the temp dir's filesystem (no tmpfs: %v)", err)
		return p
	}
	t.Cleanup(func() { _ = syscall.Unmount(p, syscall.MNT_DETACH) })
	return p
}

// startAgent starts (or restarts) the agent.
func (r *rig) startAgent(t *testing.T) {
	t.Helper()
	r.starts++
	extra := []string{"--metrics-listen", r.metrics, "--reconnect-max", reconnectMax.String()}
	if r.spoolMiB > 0 {
		extra = append(extra, "--spool-limit-mib", strconv.Itoa(r.spoolMiB))
	}
	if r.cut != nil {
		args := append(sourcesAgentArgs(t, r.colAddr, r.state, r.host, "file", "--watch", r.tree.root), extra...)
		r.agent = startInNetns(t, r.cut.ns, "agent "+r.host, bin.agent, args...)
	} else {
		r.agent = startAgentArgs(t, r.colAddr, r.state, r.host, extra, r.tree.root)
	}
	r.procs = append(r.procs, r.agent)
	r.agent.name += "#" + strconv.Itoa(r.starts)
}

// awaitBaseline waits for the baseline and records the tree it holds.
func (r *rig) awaitBaseline(t *testing.T) {
	t.Helper()
	waitBaseline(t, r.colAddr, r.host)
	r.baseline = readDisk(t, r.tree.root)
	// The baseline is the first complete snapshot: the tree as it was.
	h, err := collectorHost(r.colAddr, r.host)
	if err != nil || h.SetDigest != r.baseline.setDigest {
		t.Fatalf("baseline set digest %.16s (err %v), tree %.16s", h.SetDigest, err, r.baseline.setDigest)
	}
}

// restartCollector starts the collector again on its address and data.
func (r *rig) restartCollector(t *testing.T) {
	t.Helper()
	var extra []string
	if r.colMetrics != "" {
		extra = []string{"--metrics-listen", r.colMetrics}
	}
	r.col = startCollectorAt(t, r.colAddr, r.colData, r.hook.srv.URL, extra...)
	r.procs = append(r.procs, r.col.proc)
}

// awaitSynced waits until the collector holds the tree as it is on disk
// and the agent has nothing left to send: cheaper than assertConsistent,
// for a checkpoint between phases.
func (r *rig) awaitSynced(t *testing.T) {
	t.Helper()
	disk := readDisk(t, r.tree.root)
	waitFor(t, 60*time.Second, "the collector to hold the tree", func() bool {
		h, err := collectorHost(r.colAddr, r.host)
		spool, err2 := scrape(r.metrics, "plumb_agent_spool_deltas")
		return err == nil && err2 == nil && h.SetDigest == disk.setDigest && spool == 0
	})
}

func (r *rig) want() want {
	return want{
		col: r.colAddr, host: r.host, root: r.tree.root, baseline: r.baseline,
		hook: r.hook, restores: r.restores, agentMetrics: r.metrics, procs: r.procs,
		agent: r.agent, agentState: r.state,
	}
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// alive fails the test if p has exited.
func alive(t *testing.T, p *proc) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("%s exited: %v", p.name, p.cmd.ProcessState)
	default:
	}
}

// logged waits until p's output has a line containing every one of parts.
func logged(t *testing.T, p *proc, d time.Duration, parts ...string) {
	t.Helper()
	waitFor(t, d, p.name+" to log "+strings.Join(parts, " … "), func() bool {
		for _, line := range strings.Split(p.out.String(), "\n") {
			all := true
			for _, s := range parts {
				all = all && strings.Contains(line, s)
			}
			if all {
				return true
			}
		}
		return false
	})
}
