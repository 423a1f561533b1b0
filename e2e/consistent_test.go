package e2e

import (
	"cmp"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/state"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// The consistency checker: after a fault and its recovery, the collector
// must hold exactly what is on disk (nothing lost, nothing doubled), drift
// must be exactly the difference between the disk and the baseline, and
// on-call must have heard of every transition, each under one id.

// want describes what a test expects the collector to agree with.
type want struct {
	col      string // collector address
	host     string
	root     string
	baseline diskState // the tree when the baseline was adopted
	hook     *hook
	// restores holds, for each time the collector's data was restored
	// from an older copy, the number of webhooks received before the
	// restored collector started. Each restore starts a new epoch: event
	// seqs and the ids of replayed history start over there.
	restores []int
	// agentMetrics, if set, is the agent's metrics address: its spool
	// must drain and its stream be connected.
	agentMetrics string
	// settle bounds the wait for the collector to catch up.
	settle time.Duration
	// procs are every agent and collector the test ran. Unless
	// allowRepairs, none may have needed a repair: a resync or a digest
	// mismatch heals the state, and so would hide a bookkeeping bug from
	// the comparisons above. Only a restored collector or a dropped spool
	// call for one.
	procs        []*proc
	allowRepairs bool
	// agent and agentState, if set, are the agent and its state
	// directory: at the end the agent is stopped and its database
	// compared with the collector, fact by fact.
	agent      *proc
	agentState string
	// explain, if set, is given the paths the checks found divergent,
	// each with what the checks said of it, and returns what to print
	// about them: the workload's history of them.
	explain func(divergent map[string][]string) string
}

// spoolDropped is what an agent logs when it drops its spool, wholly or
// what follows its first checkpoint: either way a resync follows.
const spoolDropped = "spool still over its limit after compaction; dropped"

// anyLogged reports whether any of procs logged msg.
func anyLogged(procs []*proc, msg string) bool {
	for _, p := range procs {
		if strings.Contains(p.out.String(), msg) {
			return true
		}
	}
	return false
}

// repairs are the log messages of the mechanisms that heal a
// disagreement between agent and collector.
var repairs = []string{
	"resynced buckets that differed",
	"collector's set digest differs from the agent's",
	"collector is ahead of this agent's sequence",
	"agent database unreadable",
	"set digest mismatch",
	"checkpoint set digest differs from the collector's",
}

// colHost is plumbctl's JSON view of a host, the fields checked here.
type colHost struct {
	HostID      string `json:"host_id"`
	FactCount   uint64 `json:"fact_count"`
	OpenDrift   uint64 `json:"open_drift"`
	HasBaseline bool   `json:"has_baseline"`
	AppliedSeq  uint64 `json:"applied_seq"`
	SetDigest   string `json:"set_digest"`
	Connected   bool   `json:"connected"`
	Coverage    []struct {
		Source string `json:"source"`
		State  string `json:"state"`
		Reason string `json:"reason"`
	} `json:"coverage"`
}

type colFact struct {
	Key        string `json:"key"`
	Digest     string `json:"digest"`
	Attributes struct {
		Type       string  `json:"type"`
		Mode       string  `json:"mode"`
		Uid        uint32  `json:"uid"`
		Gid        uint32  `json:"gid"`
		Size       *uint64 `json:"size"`
		SHA256     string  `json:"sha256"`
		LinkTarget string  `json:"link_target"`
	} `json:"attributes"`
}

type colItem struct {
	ID       string                   `json:"id"`
	Kind     string                   `json:"kind"`
	Key      string                   `json:"key"`
	Change   string                   `json:"change"`
	Status   string                   `json:"status"`
	Baseline *struct{ Digest string } `json:"baseline"`
	Current  *struct{ Digest string } `json:"current"`
}

func (it colItem) currentDigest() string {
	if it.Current == nil {
		return ""
	}
	return it.Current.Digest
}

func (it colItem) baselineDigest() string {
	if it.Baseline == nil {
		return ""
	}
	return it.Baseline.Digest
}

// collectorHost returns the collector's view of host.
func collectorHost(addr, host string) (colHost, error) {
	var hosts []colHost
	if err := ctlJSONErr(addr, &hosts, "hosts"); err != nil {
		return colHost{}, err
	}
	for _, h := range hosts {
		if h.HostID == host {
			return h, nil
		}
	}
	return colHost{}, fmt.Errorf("collector does not know host %s", host)
}

func ctlJSONErr(addr string, v any, args ...string) error {
	out, errOut, err := ctlResult(addr, append([]string{"-o", "json"}, args...)...)
	if err != nil {
		return fmt.Errorf("plumbctl %v: %w: %s", args, err, errOut)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("plumbctl %v: bad JSON: %w", args, err)
	}
	return nil
}

// assertConsistent waits until the collector agrees with the disk under
// w.root, then checks fact by fact, drift against the baseline, the
// webhooks on-call received and, if given, the agent's spool. It returns
// the paths the checks found divergent, sorted.
func assertConsistent(t *testing.T, w want) []string {
	t.Helper()
	if w.settle == 0 {
		w.settle = 60 * time.Second
	}
	start := time.Now()
	disk := readDisk(t, w.root)
	var divergent []problem

	// 1. The set digests agree: one comparison proves every fact equal.
	var h colHost
	deadline := time.Now().Add(w.settle)
	for {
		var err error
		h, err = collectorHost(w.col, w.host)
		if err == nil && h.SetDigest == disk.setDigest && h.FactCount == uint64(len(disk.facts)) {
			t.Logf("collector agrees with the disk after %v", time.Since(start).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("collector never agreed with the disk within %v: host %+v, err %v; disk has %d facts, set digest %.16s",
				w.settle, h, err, len(disk.facts), disk.setDigest)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	// 2. Fact by fact, with the attributes people read.
	var facts []colFact
	if err := ctlJSONErr(w.col, &facts, "facts", "--host", w.host, "--kind", "file"); err != nil {
		t.Fatal(err)
	}
	problems := compareFacts(disk, facts)
	reportProblems(t, "facts", problems)
	divergent = append(divergent, problems...)

	// 3. Drift is exactly the difference between disk and baseline. A
	// health item may open or resolve between reading the host's open
	// count and listing its drift (coverage after an overflow, say): read
	// both until they were taken between the same transitions.
	var items []colItem
	for range 20 {
		if err := ctlJSONErr(w.col, &items, "drift", "--all", "--host", w.host); err != nil {
			t.Fatal(err)
		}
		again, err := collectorHost(w.col, w.host)
		if err != nil {
			t.Fatal(err)
		}
		if again.OpenDrift == openCount(items) {
			h = again
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Health items are the collector's word on the host, not facts:
	// the disk cannot explain them. Their events still belong to the
	// log the webhook must have heard in full.
	files, health := splitHealth(items)
	for _, it := range health {
		if it.Status == "open" {
			t.Logf("open health item %s (%s)", it.Key, it.ID)
			h.OpenDrift--
		}
	}
	problems = checkItems(w.baseline, disk, files, h)
	reportProblems(t, "drift items", problems)
	divergent = append(divergent, problems...)

	// 4. On-call heard of every transition, each under one id, and what
	// it heard adds up to what is open.
	var last []string
	var evs []event
	deadline = time.Now().Add(w.settle)
	for {
		evs = w.hook.events()
		last = checkWebhooks(evs, w.restores, items)
		if len(last) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	report(t, "webhooks", last)
	if len(w.restores) == 0 {
		// (A restore forgets history the webhook heard: no replay.)
		replayed := replayWebhooks(slices.DeleteFunc(slices.Clone(evs), func(ev event) bool { return ev.Kind == "health" }), w.baseline, disk)
		reportProblems(t, "webhook replay", replayed)
		divergent = append(divergent, replayed...)
	}
	t.Logf("webhooks checked after %v", time.Since(start).Round(time.Millisecond))

	// 5. The agent holds nothing unacknowledged.
	if w.agentMetrics != "" {
		waitFor(t, w.settle, "agent spool to drain and stream to be connected", func() bool {
			spool, err1 := scrape(w.agentMetrics, "plumb_agent_spool_deltas")
			conn, err2 := scrape(w.agentMetrics, "plumb_agent_connected")
			return err1 == nil && err2 == nil && spool == 0 && conn == 1
		})
	}
	// 6. Nothing needed repairing on the way. A dropped spool is the one
	// thing an agent heals by a resync, by design.
	if !w.allowRepairs && anyLogged(w.procs, spoolDropped) {
		t.Logf("an agent dropped its spool, so resyncs were needed")
	} else if !w.allowRepairs {
		var found []string
		for _, p := range w.procs {
			for _, line := range strings.Split(p.out.String(), "\n") {
				for _, m := range repairs {
					if strings.Contains(line, `msg="`+m) {
						found = append(found, p.name+": "+line)
					}
				}
			}
		}
		report(t, "repairs nothing should have needed", found)
	}
	// 7. The agent's own database holds what the collector holds.
	if w.agent != nil {
		w.agent.stop()
		report(t, "agent database", compareAgentDB(w.agentState, h, facts))
	}
	keys := problemKeys(divergent)
	if len(keys) > 0 && w.explain != nil {
		byKey := map[string][]string{}
		for _, p := range divergent {
			if p.key != "" {
				byKey[p.key] = append(byKey[p.key], p.msg)
			}
		}
		t.Logf("%d divergent paths; %s", len(keys), w.explain(byKey))
	}
	if !t.Failed() {
		t.Logf("consistent: %d facts, set digest %.16s, %d drift items (%d open), %d webhooks",
			len(disk.facts), disk.setDigest, len(items), h.OpenDrift, len(w.hook.events()))
	}
	return keys
}

// problem is one disagreement a check found; key is the path it is
// about, or "" when it is about no one path.
type problem struct{ key, msg string }

// problemKeys returns the distinct paths of problems, sorted.
func problemKeys(ps []problem) []string {
	var keys []string
	for _, p := range ps {
		if p.key != "" {
			keys = append(keys, p.key)
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// compareFacts compares the collector's file facts with the disk, path by
// path and attribute by attribute: nothing missing, nothing extra, nothing
// listed twice.
func compareFacts(disk diskState, facts []colFact) []problem {
	var problems []problem
	seen := map[string]bool{}
	for _, f := range facts {
		if seen[f.Key] {
			problems = append(problems, problem{f.Key, "collector lists " + f.Key + " twice"})
		}
		seen[f.Key] = true
		d, ok := disk.facts[f.Key]
		if !ok {
			problems = append(problems, problem{f.Key, fmt.Sprintf("collector holds %s (%s %s digest %.12s), gone from disk",
				f.Key, f.Attributes.Type, f.Attributes.Mode, f.Digest)})
			continue
		}
		a := f.Attributes
		size := uint64(0)
		if a.Size != nil {
			size = *a.Size
		}
		if d.Type != "regular" {
			size = d.Size // only regular files show their size
		}
		if f.Digest != d.Digest || a.Type != d.Type || a.Mode != d.Mode || a.Uid != d.Uid || a.Gid != d.Gid ||
			size != d.Size || a.SHA256 != d.SHA256 || a.LinkTarget != d.LinkTarget {
			problems = append(problems, problem{f.Key, fmt.Sprintf(
				"%s: collector %s %s %d:%d size %d sha %.12s link %q digest %.12s; disk %s %s %d:%d size %d sha %.12s link %q digest %.12s",
				f.Key, a.Type, a.Mode, a.Uid, a.Gid, size, a.SHA256, a.LinkTarget, f.Digest,
				d.Type, d.Mode, d.Uid, d.Gid, d.Size, d.SHA256, d.LinkTarget, d.Digest)})
		}
	}
	for k, d := range disk.facts {
		if !seen[k] {
			problems = append(problems, problem{k, fmt.Sprintf("collector lacks %s (%s %s on disk, digest %.12s)", k, d.Type, d.Mode, d.Digest)})
		}
	}
	return problems
}

// openCount is how many of items are open.
func openCount(items []colItem) uint64 {
	var n uint64
	for _, it := range items {
		if it.Status == "open" {
			n++
		}
	}
	return n
}

// splitHealth separates the collector's health items from fact drift.
func splitHealth(items []colItem) (files, health []colItem) {
	for _, it := range items {
		if it.Kind == "health" {
			health = append(health, it)
		} else {
			files = append(files, it)
		}
	}
	return files, health
}

// checkItems compares drift items with the difference between the disk
// and the baseline.
func checkItems(base, disk diskState, items []colItem, h colHost) []problem {
	var problems []problem
	open := map[string]colItem{}
	for _, it := range items {
		if it.Status != "open" {
			continue
		}
		if prev, dup := open[it.Key]; dup {
			problems = append(problems, problem{it.Key, fmt.Sprintf("%s has two open items, %s and %s", it.Key, prev.ID, it.ID)})
		}
		open[it.Key] = it
	}
	if h.OpenDrift != uint64(len(open)) {
		problems = append(problems, problem{"", fmt.Sprintf("host counts %d open drift items, drift lists %d", h.OpenDrift, len(open))})
	}
	keys := map[string]bool{}
	for k := range base.facts {
		keys[k] = true
	}
	for k := range disk.facts {
		keys[k] = true
	}
	for k := range open {
		if !keys[k] {
			problems = append(problems, problem{k, "open item for " + k + ", which is neither on disk nor in the baseline"})
		}
	}
	for k := range keys {
		b, inBase := base.facts[k]
		d, onDisk := disk.facts[k]
		it, isOpen := open[k]
		if inBase && onDisk && b.Digest == d.Digest {
			if isOpen {
				problems = append(problems, problem{k, fmt.Sprintf("%s is back at its baseline but item %s is open (%s)", k, it.ID, it.Change)})
			}
			continue
		}
		change := "modified"
		switch {
		case !inBase:
			change = "added"
		case !onDisk:
			change = "removed"
		}
		if !isOpen {
			problems = append(problems, problem{k, fmt.Sprintf("%s is %s against the baseline but has no open item", k, change)})
			continue
		}
		if it.Change != change || it.currentDigest() != d.Digest || it.baselineDigest() != b.Digest {
			problems = append(problems, problem{k, fmt.Sprintf("%s: item %s says %s, current %.12s, baseline %.12s; want %s, %.12s, %.12s",
				k, it.ID, it.Change, it.currentDigest(), it.baselineDigest(), change, d.Digest, b.Digest)})
		}
	}
	return problems
}

// replayWebhooks folds the events on-call received, in seq order, into
// the items it must believe open, and compares them with the difference
// between the disk and the baseline: a receiver that only ever saw the
// webhooks knows exactly what drifted, with its current value.
func replayWebhooks(evs []event, base, disk diskState) []problem {
	byID := map[string]event{} // a retry repeats an id
	for _, ev := range evs {
		byID[ev.ID] = ev
	}
	list := slices.SortedFunc(maps.Values(byID), func(a, b event) int { return cmp.Compare(a.Seq, b.Seq) })
	open := map[string]event{} // by item id
	for _, ev := range list {
		switch ev.Type {
		case "drift.opened", "drift.updated":
			open[ev.ItemID] = ev
		default:
			delete(open, ev.ItemID)
		}
	}
	var problems []problem
	byKey := map[string]event{}
	for _, ev := range open {
		if prev, dup := byKey[ev.Key]; dup {
			problems = append(problems, problem{ev.Key, fmt.Sprintf("webhooks leave %s open twice, as items %s and %s", ev.Key, prev.ItemID, ev.ItemID)})
		}
		byKey[ev.Key] = ev
	}
	for k, ev := range byKey {
		b, inBase := base.facts[k]
		d, onDisk := disk.facts[k]
		switch {
		case inBase && onDisk && b.Digest == d.Digest:
			problems = append(problems, problem{k, fmt.Sprintf("webhooks leave %s open (item %s, %s at %.12s, seq %d), but it is at its baseline",
				k, ev.ItemID, ev.Change, eventDigest(ev.Current), ev.Seq)})
		case !inBase && !onDisk:
			problems = append(problems, problem{k, fmt.Sprintf("webhooks leave %s open (item %s, %s at %.12s, seq %d), but it is neither on disk nor in the baseline",
				k, ev.ItemID, ev.Change, eventDigest(ev.Current), ev.Seq)})
		case eventDigest(ev.Current) != d.Digest:
			problems = append(problems, problem{k, fmt.Sprintf("webhooks leave %s open at %.12s (item %s, %s, seq %d); disk has %.12s",
				k, eventDigest(ev.Current), ev.ItemID, ev.Type, ev.Seq, d.Digest)})
		}
	}
	for k, d := range disk.facts {
		if b, inBase := base.facts[k]; (!inBase || b.Digest != d.Digest) && byKey[k].ID == "" {
			problems = append(problems, problem{k, fmt.Sprintf("%s differs from its baseline, but the webhooks leave it closed", k)})
		}
	}
	for k := range base.facts {
		if _, onDisk := disk.facts[k]; !onDisk && byKey[k].ID == "" {
			problems = append(problems, problem{k, fmt.Sprintf("%s is gone from disk, but the webhooks leave it closed", k)})
		}
	}
	return problems
}

// checkWebhooks checks the received events against the final items:
//
//   - every open item reached on-call with its current value, every closed
//     one with its closing;
//   - for every item on-call heard of, the newest event says what the
//     collector says now (an item the collector no longer keeps was
//     replaced, so it must have closed);
//   - every item heard of was heard opened;
//   - no transition arrived under two ids: the same id twice is a retry,
//     two ids for one step of an item (same type and value, nothing
//     between) are a doubled finding;
//   - no event of the log is missing: seqs leave no gap.
//
// A restore from an older copy starts a new epoch: "newest" is judged in
// the last epoch, duplicates within each.
func checkWebhooks(evs []event, restores []int, items []colItem) []string {
	var problems []string
	epochOf := func(i int) int {
		e := 0
		for _, r := range restores {
			if i >= r {
				e++
			}
		}
		return e
	}
	lastEpoch := len(restores)
	byItem := map[string][]int{}
	for i, ev := range evs {
		byItem[ev.ItemID] = append(byItem[ev.ItemID], i)
	}
	// A doubled finding is one transition under two ids: among an item's
	// distinct events in seq order, two neighbours with the same type and
	// value. (The same value again after another transition is a new
	// finding; the same id again is a retry.)
	type key struct {
		epoch int
		item  string
	}
	distinct := map[key]map[string]event{}
	for i, ev := range evs {
		k := key{epochOf(i), ev.ItemID}
		if distinct[k] == nil {
			distinct[k] = map[string]event{}
		}
		if prev, ok := distinct[k][ev.ID]; ok && (prev.Type != ev.Type || eventDigest(prev.Current) != eventDigest(ev.Current)) {
			problems = append(problems, fmt.Sprintf("event id %s arrived as %s at %.12s and as %s at %.12s",
				ev.ID, prev.Type, eventDigest(prev.Current), ev.Type, eventDigest(ev.Current)))
		}
		distinct[k][ev.ID] = ev
	}
	for k, set := range distinct {
		list := make([]event, 0, len(set))
		for _, ev := range set {
			list = append(list, ev)
		}
		slices.SortFunc(list, func(a, b event) int { return cmp.Compare(a.Seq, b.Seq) })
		for i := 1; i < len(list); i++ {
			a, b := list[i-1], list[i]
			if a.Type == b.Type && eventDigest(a.Current) == eventDigest(b.Current) {
				problems = append(problems, fmt.Sprintf("transition %s of item %s (%s, current %.12s) arrived under two ids: %s (seq %d) and %s (seq %d)",
					b.Type, k.item, b.Key, eventDigest(b.Current), a.ID, a.Seq, b.ID, b.Seq))
			}
		}
	}
	// Every event of the log reached the webhook: within an epoch the seqs
	// leave no gap, and the first epoch starts at the first event.
	seqs := map[int]map[uint64]string{}
	for i, ev := range evs {
		e := epochOf(i)
		if seqs[e] == nil {
			seqs[e] = map[uint64]string{}
		}
		if id, ok := seqs[e][ev.Seq]; ok && id != ev.ID {
			problems = append(problems, fmt.Sprintf("event seq %d arrived as %s and as %s", ev.Seq, id, ev.ID))
		}
		seqs[e][ev.Seq] = ev.ID
	}
	for e, set := range seqs {
		lo, hi := uint64(1<<63), uint64(0)
		for q := range set {
			lo, hi = min(lo, q), max(hi, q)
		}
		if e == 0 && lo != 1 {
			problems = append(problems, fmt.Sprintf("the first event received has seq %d, not 1", lo))
		}
		if missing := int(hi-lo+1) - len(set); missing > 0 {
			problems = append(problems, fmt.Sprintf("%d events between seq %d and %d never reached the webhook", missing, lo, hi))
		}
	}
	known := map[string]colItem{}
	for _, it := range items {
		known[it.ID] = it
		reached := false
		for _, i := range byItem[it.ID] {
			ev := evs[i]
			switch it.Status {
			case "open":
				reached = reached || ((ev.Type == "drift.opened" || ev.Type == "drift.updated") && eventDigest(ev.Current) == it.currentDigest())
			default:
				reached = reached || ev.Type == "drift."+it.Status
			}
		}
		if !reached {
			problems = append(problems, fmt.Sprintf("item %s (%s %s, %s, current %.12s) never reached the webhook in that state",
				it.ID, it.Key, it.Change, it.Status, it.currentDigest()))
		}
	}
	for id, idx := range byItem {
		opened := false
		for _, i := range idx {
			opened = opened || evs[i].Type == "drift.opened"
		}
		if !opened {
			problems = append(problems, fmt.Sprintf("item %s (%s) reached the webhook, but never as drift.opened", id, evs[idx[0]].Key))
		}
		var newest *event
		for _, i := range idx {
			if epochOf(i) != lastEpoch {
				continue
			}
			if newest == nil || evs[i].Seq > newest.Seq {
				newest = &evs[i]
			}
		}
		if newest == nil {
			continue // only heard of before a restore; that history is gone
		}
		it, ok := known[id]
		switch {
		case !ok:
			if newest.Type != "drift.resolved" && newest.Type != "drift.accepted" {
				problems = append(problems, fmt.Sprintf("item %s (%s) is gone from the collector but its last webhook is %s",
					id, newest.Key, newest.Type))
			}
		case it.Status == "open":
			if (newest.Type != "drift.opened" && newest.Type != "drift.updated") || eventDigest(newest.Current) != it.currentDigest() {
				problems = append(problems, fmt.Sprintf("item %s (%s) is open at %.12s but its last webhook is %s at %.12s",
					id, it.Key, it.currentDigest(), newest.Type, eventDigest(newest.Current)))
			}
		default:
			if newest.Type != "drift."+it.Status {
				problems = append(problems, fmt.Sprintf("item %s (%s) is %s but its last webhook is %s", id, it.Key, it.Status, newest.Type))
			}
		}
	}
	return problems
}

func eventDigest(f map[string]any) string {
	if f == nil {
		return ""
	}
	d, _ := f["digest"].(string)
	return d
}

// report fails t with up to 20 problems, sorted.
func report(t *testing.T, what string, problems []string) {
	t.Helper()
	if len(problems) == 0 {
		return
	}
	sort.Strings(problems)
	n := len(problems)
	if n > 20 {
		problems = append(problems[:20], fmt.Sprintf("... and %d more", n-20))
	}
	t.Errorf("%s: %d problems:\n  %s", what, n, strings.Join(problems, "\n  "))
}

// reportProblems is report for problems.
func reportProblems(t *testing.T, what string, ps []problem) {
	t.Helper()
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = p.msg
	}
	report(t, what, msgs)
}

// compareAgentDB opens the stopped agent's database in dir and compares
// it with the collector's host and file facts.
func compareAgentDB(dir string, h colHost, facts []colFact) []string {
	db, err := state.Open(dir, state.Options{})
	if err != nil {
		return []string{fmt.Sprintf("open agent database: %v", err)}
	}
	defer db.Close()
	var problems []string
	st := db.Status()
	if got := hex.EncodeToString(st.Digest); got != h.SetDigest {
		problems = append(problems, fmt.Sprintf("agent set digest %.16s, collector %.16s", got, h.SetDigest))
	}
	if st.SpoolLen != 0 {
		problems = append(problems, fmt.Sprintf("agent stopped with %d deltas unacknowledged", st.SpoolLen))
	}
	want := map[string]string{}
	for _, f := range facts {
		want[f.Key] = f.Digest
	}
	seen := map[string]bool{}
	err = db.Facts(plumbv1.FactKind_FACT_KIND_FILE, "", func(f *plumbv1.Fact) error {
		k, d := fact.Display(f.GetKey()), hex.EncodeToString(f.GetDigest())
		if c, ok := want[k]; !ok {
			problems = append(problems, "agent holds "+k+", the collector does not")
		} else if c != d {
			problems = append(problems, fmt.Sprintf("%s: agent %.12s, collector %.12s", k, d, c))
		}
		seen[k] = true
		return nil
	})
	if err != nil {
		problems = append(problems, fmt.Sprintf("read agent facts: %v", err))
	}
	for k := range want {
		if !seen[k] {
			problems = append(problems, "collector holds "+k+", the agent does not")
		}
	}
	return problems
}
