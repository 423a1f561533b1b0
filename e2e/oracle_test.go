package e2e

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The disk oracle: a seeded random workload (churn) of every kind of
// change real hosts make, at full speed, against the real binaries, with
// faults in the middle. When the workload ends and the agent has caught
// up, the disk is the oracle: assertConsistent holds the collector's facts
// to it path by path and attribute by attribute, its open drift to the
// disk minus the baseline the rig recorded when the first snapshot was
// adopted, and the webhook log, replayed, to the same open set. A
// divergence is printed with the workload's history of that path.
//
// Environment:
//
//	PLUMB_ORACLE_SEED     base seed; run i uses seed+i (default: random, logged)
//	PLUMB_ORACLE_OPS      operations per run (default 20,000; 2,000 with -short)
//	PLUMB_ORACLE_RUNS     runs, cycling through the fault mixes (default 3)
//	PLUMB_ORACLE_FAULTS   one mix for every run instead: a comma-separated
//	                      list of kill-collector, stop-collector, kill-agent,
//	                      stop-agent (each may repeat), tiny-spool and
//	                      cold-start, or none
//	PLUMB_ORACLE_SUMMARY  file to append the summary line to (make soak)

// faultKind is one fault the oracle injects between two operations.
type faultKind int

const (
	killCollector faultKind = iota // SIGKILL, restarted at once
	stopCollector                  // stopped for a stretch of ops: unreachable
	killAgent                      // SIGKILL, restarted at once
	stopAgent                      // SIGKILL, down for a stretch of ops
)

func (f faultKind) String() string {
	return [...]string{"kill-collector", "stop-collector", "kill-agent", "stop-agent"}[f]
}

// oracleMix is a set of faults for one run.
type oracleMix struct {
	name     string
	faults   []faultKind
	spoolMiB int // the agent's spool limit; 0 for its default
	// coldStart keeps the collector away while the agent takes its first
	// snapshot and for the first half of the run or more: the snapshot,
	// which must become the baseline, waits in the spool under all that
	// follows it.
	coldStart bool
}

var oracleMixes = []oracleMix{
	{name: "kills", faults: []faultKind{killCollector, killAgent, killCollector, stopAgent, killAgent}},
	{name: "outages", faults: []faultKind{stopCollector, killAgent, stopCollector, killCollector, stopAgent}},
	// A 1 MiB spool, and the collector away from the first snapshot on:
	// the spool is compacted with the baseline's snapshot in it, the agent
	// killed at some point, before or after.
	{name: "spool", spoolMiB: 1, coldStart: true, faults: []faultKind{killAgent, killCollector}},
}

// parseMix reads a mix from a comma-separated list of faults.
func parseMix(s string) (oracleMix, error) {
	m := oracleMix{name: "custom"}
	for _, f := range strings.Split(s, ",") {
		switch f = strings.TrimSpace(f); f {
		case "none":
		case "tiny-spool":
			m.spoolMiB = 1
		case "cold-start":
			m.coldStart = true
		default:
			k := slices.IndexFunc([]faultKind{killCollector, stopCollector, killAgent, stopAgent},
				func(k faultKind) bool { return k.String() == f })
			if k < 0 {
				return m, fmt.Errorf("unknown fault %q; want kill-collector, stop-collector, kill-agent, stop-agent, tiny-spool, cold-start or none", f)
			}
			m.faults = append(m.faults, faultKind(k))
		}
	}
	return m, nil
}

// minOutage is the least time the collector stays away in a
// stop-collector fault: several of the agent's longest backoffs, so that
// it retries and spools meanwhile.
const minOutage = 3 * reconnectMax

type oracleConfig struct {
	seed    uint64
	ops     int
	runs    int
	mixes   []oracleMix
	summary string
}

func oracleEnv(t *testing.T) oracleConfig {
	t.Helper()
	c := oracleConfig{seed: uint64(rand.Uint32()), ops: 20000, runs: len(oracleMixes), mixes: oracleMixes,
		summary: os.Getenv("PLUMB_ORACLE_SUMMARY")}
	if s := os.Getenv("PLUMB_ORACLE_FAULTS"); s != "" {
		m, err := parseMix(s)
		if err != nil {
			t.Fatalf("PLUMB_ORACLE_FAULTS=%q: %v", s, err)
		}
		c.mixes = []oracleMix{m}
	}
	if testing.Short() {
		c.ops = 2000
	}
	for _, v := range []struct {
		name string
		set  func(uint64)
	}{
		{"PLUMB_ORACLE_SEED", func(n uint64) { c.seed = n }},
		{"PLUMB_ORACLE_OPS", func(n uint64) { c.ops = int(n) }},
		{"PLUMB_ORACLE_RUNS", func(n uint64) { c.runs = int(n) }},
	} {
		s := os.Getenv(v.name)
		if s == "" {
			continue
		}
		n, err := strconv.ParseUint(s, 10, 63)
		if err != nil {
			t.Fatalf("%s=%q: %v", v.name, s, err)
		}
		v.set(n)
	}
	if c.ops < 1 || c.runs < 1 {
		t.Fatalf("PLUMB_ORACLE_OPS=%d, PLUMB_ORACLE_RUNS=%d: want at least 1 of each", c.ops, c.runs)
	}
	return c
}

func TestDiskOracle(t *testing.T) {
	t.Parallel()
	cfg := oracleEnv(t)
	t.Logf("base seed %d (PLUMB_ORACLE_SEED), %d runs (PLUMB_ORACLE_RUNS) of %d ops (PLUMB_ORACLE_OPS)", cfg.seed, cfg.runs, cfg.ops)
	var tally oracleTally
	t.Cleanup(func() {
		line := tally.String()
		t.Log(line)
		if cfg.summary == "" {
			return
		}
		f, err := os.OpenFile(cfg.summary, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err == nil {
			_, err = fmt.Fprintln(f, line)
			if err2 := f.Close(); err == nil {
				err = err2
			}
		}
		if err != nil {
			t.Errorf("write the summary: %v", err)
		}
	})
	for i := range cfg.runs {
		mix := cfg.mixes[i%len(cfg.mixes)]
		seed := cfg.seed + uint64(i)
		name := fmt.Sprintf("%s-%d", mix.name, seed)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			t.Logf("seed %d; rerun this run alone with PLUMB_ORACLE_SEED=%d PLUMB_ORACLE_RUNS=%d PLUMB_ORACLE_OPS=%d go test -count=1 -run 'TestDiskOracle/^%s$' ./e2e/",
				seed, cfg.seed, cfg.runs, cfg.ops, name)
			res := oracleResult{name: name}
			defer func() { tally.add(res, t.Failed()) }()
			runOracle(t, mix, seed, cfg.ops, &res)
		})
	}
}

// runOracle runs one seeded workload with mix's faults and checks the
// collector against the disk.
func runOracle(t *testing.T, mix oracleMix, seed uint64, ops int, res *oracleResult) {
	r := newRig(t, "oracle-"+mix.name, rigOptions{dirs: 36, files: 16, spoolMiB: mix.spoolMiB, noAgent: mix.coldStart})
	if mix.coldStart {
		r.col.stop()
		r.startAgent(t)
		logged(t, r.agent, 60*time.Second, "initial snapshot complete")
		// Nothing has touched the tree since it was made: this is what the
		// first snapshot holds, the baseline the collector must adopt.
		r.baseline = readDisk(t, r.tree.root)
	}
	w, err := newChurn(r.tree.root, seed)
	if err != nil {
		t.Fatal(err)
	}
	plan := planFaults(mix, seed, ops)
	var faults []string
	for _, a := range plan {
		if a.start {
			faults = append(faults, fmt.Sprintf("%v@%d", a.kind, a.at))
		}
	}
	t.Logf("%d ops on a tree of %d files in %d directories; faults %s; spool limit %d MiB",
		ops, w.files.len(), w.dirs.len(), strings.Join(faults, " "), mix.spoolMiB)

	began := time.Now()
	for i := range ops {
		for len(plan) > 0 && plan[0].at <= i {
			plan[0].apply(t, r, w)
			plan = plan[1:]
		}
		if err := w.next(); err != nil {
			t.Fatalf("workload (seed %d): %v", seed, err)
		}
		res.ops++
	}
	for _, a := range plan { // what is still down comes back
		a.apply(t, r, w)
	}
	took := time.Since(began)
	w.mark("workload done")
	t.Logf("workload: %d ops in %v (%.0f ops/s), tree now %d files, %d directories, %d symlinks; ops run: %s",
		ops, took.Round(time.Millisecond), float64(ops)/took.Seconds(), w.files.len(), w.dirs.len(), w.links.len(), w.ranString())

	want := r.want()
	want.explain = w.explain
	// However long the agent may still need: a minute, or five times as
	// long as the workload took, whichever is longer.
	want.settle = max(60*time.Second, 5*took)
	res.divergent = len(assertConsistent(t, want))

	if mix.spoolMiB > 0 && (mix.coldStart || slices.Contains(mix.faults, stopCollector)) {
		switch {
		case anyLogged(r.procs, spoolDropped):
			t.Logf("the spool was dropped (compaction was not enough); resyncs allowed")
		case anyLogged(r.procs, "spool over its limit; compacted"):
			t.Logf("the spool was compacted")
		case testing.Short():
			t.Logf("the spool never reached its limit in a -short run")
		default:
			t.Errorf("the spool never reached its %d MiB limit; the run proves less than it says", mix.spoolMiB)
		}
	}
}

// faultAction starts or ends a fault before op at.
type faultAction struct {
	at    int
	kind  faultKind
	start bool
	since *time.Time // when the collector stopped (stop-collector)
}

// planFaults places mix's faults at random ops: the collector's in
// disjoint slots, the agent's in others, so an agent fault may fall
// inside a collector outage. The plan has its own random stream: the
// workload's ops do not depend on it.
func planFaults(mix oracleMix, seed uint64, ops int) []faultAction {
	rng := rand.New(rand.NewPCG(seed, 0xfa0175))
	var plan []faultAction
	colFrom := ops / 20
	if mix.coldStart {
		// The collector, stopped before the first snapshot, is back
		// after half the run or more.
		since := new(time.Time)
		back := ops/2 + rng.IntN(ops/5+1)
		plan = append(plan, faultAction{at: 0, kind: stopCollector, start: true, since: since},
			faultAction{at: back, kind: stopCollector, since: since})
		colFrom = back + ops/20
	}
	place := func(kinds []faultKind, lo int) {
		if len(kinds) == 0 {
			return
		}
		hi := ops * 9 / 10
		slot := (hi - lo) / len(kinds)
		for i, k := range kinds {
			at := lo + i*slot + rng.IntN(slot/4+1)
			plan = append(plan, faultAction{at: at, kind: k, start: true})
			if k == stopCollector || k == stopAgent {
				since := new(time.Time)
				plan[len(plan)-1].since = since
				end := at + slot/4 + rng.IntN(slot/2+1)
				plan = append(plan, faultAction{at: end, kind: k, since: since})
			}
		}
	}
	var col, agent []faultKind
	for _, k := range mix.faults {
		if k == killCollector || k == stopCollector {
			col = append(col, k)
		} else {
			agent = append(agent, k)
		}
	}
	place(col, colFrom)
	place(agent, ops/20)
	slices.SortStableFunc(plan, func(a, b faultAction) int { return a.at - b.at })
	return plan
}

func (a faultAction) apply(t *testing.T, r *rig, w *churn) {
	t.Helper()
	switch {
	case a.kind == killCollector:
		r.col.kill()
		w.mark("collector SIGKILLed")
		r.restartCollector(t)
		w.mark("collector restarted")
	case a.kind == stopCollector && a.start:
		r.col.stop()
		*a.since = time.Now()
		w.mark("collector stopped (unreachable)")
	case a.kind == stopCollector:
		if d := minOutage - time.Since(*a.since); d > 0 {
			time.Sleep(d) // the outage's length, not a wait for anything
		}
		r.restartCollector(t)
		w.mark("collector restarted after %v away", time.Since(*a.since).Round(time.Millisecond))
	case a.kind == killAgent:
		r.agent.kill()
		w.mark("agent SIGKILLed")
		r.startAgent(t)
		w.mark("agent restarted")
	case a.kind == stopAgent && a.start:
		r.agent.kill()
		w.mark("agent SIGKILLed, stays down")
	case a.kind == stopAgent:
		r.startAgent(t)
		w.mark("agent restarted")
	}
	t.Logf("op %d: %s", w.op, w.marks[len(w.marks)-1].what)
}

func (w *churn) ranString() string {
	names := make([]string, 0, len(w.ran))
	for n := range w.ran {
		names = append(names, n)
	}
	slices.Sort(names)
	var sb strings.Builder
	for i, n := range names {
		if i > 0 {
			sb.WriteString(" ")
		}
		fmt.Fprintf(&sb, "%s=%d", n, w.ran[n])
	}
	return sb.String()
}

// oracleResult is what one run found.
type oracleResult struct {
	name      string
	ops       int
	divergent int // paths
}

// oracleTally adds up the runs for the summary line.
type oracleTally struct {
	mu                     sync.Mutex
	runs, failed, ops, div int
	perRun                 []string
}

func (ta *oracleTally) add(r oracleResult, failed bool) {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	ta.runs++
	ta.ops += r.ops
	ta.div += r.divergent
	verdict := "ok"
	if failed {
		ta.failed++
		verdict = "FAIL"
	}
	ta.perRun = append(ta.perRun, fmt.Sprintf("%s:%s:%d", r.name, verdict, r.divergent))
}

func (ta *oracleTally) String() string {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	perM := math.NaN()
	if ta.ops > 0 {
		perM = float64(ta.div) / float64(ta.ops) * 1e6
	}
	slices.Sort(ta.perRun)
	return fmt.Sprintf("oracle summary: seeds %d, operations %d, divergent facts %d, divergences per million ops %.1f, failed runs %d [%s]",
		ta.runs, ta.ops, ta.div, perM, ta.failed, strings.Join(ta.perRun, " "))
}
