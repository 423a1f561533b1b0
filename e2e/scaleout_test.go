package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/collector/store/pgtest"
)

// Several collectors on one PostgreSQL database (README "Scale out"): real
// binaries, TLS on, a private PostgreSQL cluster per test, agents given
// every collector. The disk is the oracle: whatever fails meanwhile, each
// host's facts end equal to its tree, drift equal to its difference from
// the baseline, and the webhook receiver has heard every transition of
// the shared event log, each event id delivered by one collector (twice
// only as the redelivery, by the survivor, of what the killed one had not
// committed).

// scaleRig is one PostgreSQL database, the collectors sharing it, a
// webhook receiver and agents, each with its own seeded workload.
type scaleRig struct {
	t      *testing.T
	dir    string
	pg     *pgtest.Cluster
	dsn    string
	hook   *hook
	cols   []*scaleCollector
	agents []*scaleAgent
	seed   uint64
	procs  []*proc
	addrs  []string // every collector's, chosen before any starts
	// A fault may leave events delivered whose cursor commit was lost:
	// they are delivered again after it. Between faultStart and faultEnd
	// an event id may reach the receiver twice, first before faultEnd,
	// then again after faultStart (by redeliverer, if set).
	faultStart, faultEnd time.Time
	redeliverer          *scaleCollector
	firstDeliverer       *scaleCollector
}

type scaleCollector struct {
	*collector
	metrics  string
	instance string // its lease holder id, from its log
	dsn      string // the database as it reaches it (through a proxy, maybe)
}

type scaleAgent struct {
	host     string
	state    string
	metrics  string
	root     string
	proc     *proc
	baseline diskState
	work     *churn
}

func newScaleRig(t *testing.T, collectors, agents int) *scaleRig {
	t.Helper()
	r := newScaleRigDB(t, collectors)
	r.startCollector(t, 0, r.dsn)
	r.startAgents(t, agents)
	for i := 1; i < collectors; i++ {
		r.startCollector(t, i, r.dsn)
	}
	return r
}

// newScaleRigDB makes a rig with its database, and addresses for its
// collectors, none started.
func newScaleRigDB(t *testing.T, collectors int) *scaleRig {
	t.Helper()
	seed := uint64(rand.Uint32())
	if s := os.Getenv("PLUMB_SCALEOUT_SEED"); s != "" {
		if _, err := fmt.Sscan(s, &seed); err != nil {
			t.Fatalf("PLUMB_SCALEOUT_SEED: %v", err)
		}
	}
	t.Logf("workload seed %d (rerun with PLUMB_SCALEOUT_SEED=%d)", seed, seed)
	r := &scaleRig{t: t, dir: t.TempDir(), seed: seed, hook: newHook(t)}
	r.pg = pgtest.Start(t)
	r.dsn = r.pg.NewDatabase(t)
	for range collectors {
		r.addrs = append(r.addrs, freeAddr(t))
	}
	return r
}

// startAgents starts n agents, given every collector's address, while only
// collector 0 runs: they all stream to it, and it holds the notifier's
// lease (it started first). It waits for their baselines.
func (r *scaleRig) startAgents(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		r.startAgent(t, i)
	}
	for _, a := range r.agents {
		waitBaseline(t, r.cols[0].addr, a.host)
		a.baseline = readDisk(t, a.root)
	}
}

var instanceRE = regexp.MustCompile(`msg="plumb-collector starting".* instance=([0-9a-f]+)`)

// startCollector starts collector i on dsn; the first one creates the
// schema, the CA and the digest key in the database, the others read them.
func (r *scaleRig) startCollector(t *testing.T, i int, dsn string) *scaleCollector {
	t.Helper()
	c := &scaleCollector{metrics: freeAddr(t), dsn: dsn}
	c.collector = startCollectorAt(t, r.addrs[i], filepath.Join(r.dir, fmt.Sprintf("collector%d", i)), r.hook.srv.URL,
		"--store-dsn", dsn, "--metrics-listen", c.metrics)
	c.proc.name = fmt.Sprintf("collector%d", i)
	waitFor(t, 10*time.Second, c.proc.name+"'s instance id", func() bool {
		m := instanceRE.FindStringSubmatch(c.out.String())
		if m != nil {
			c.instance = m[1]
		}
		return m != nil
	})
	if i < len(r.cols) {
		r.cols[i] = c
	} else {
		r.cols = append(r.cols, c)
	}
	r.procs = append(r.procs, c.proc)
	return c
}

// startAgent starts agent i, given every collector; it enrolls with the
// first collector's join token (every collector shares the CA).
func (r *scaleRig) startAgent(t *testing.T, i int) {
	t.Helper()
	a := &scaleAgent{host: fmt.Sprintf("scale-%d", i), state: filepath.Join(r.dir, fmt.Sprintf("agent%d", i)), metrics: freeAddr(t)}
	a.root = newTree(t, treeDir(t, filepath.Join(r.dir, a.host)), 8, 20).root
	args := append(agentAuthArgs(t, r.cols[0].addr), "--collector", strings.Join(r.addrs, ","), "--state", a.state,
		"--host-id", a.host, "--sources", "file", "--watch", a.root, "--metrics-listen", a.metrics,
		"--reconnect-max", reconnectMax.String(), "--log-level", "debug", "--log-format", "json")
	a.proc = start(t, "agent "+a.host, bin.agent, args...)
	w, err := newChurn(a.root, r.seed+uint64(i))
	if err != nil {
		t.Fatal(err)
	}
	a.work = w
	r.agents = append(r.agents, a)
	r.procs = append(r.procs, a.proc)
}

// streamingTo returns the collector agent a streams to, or nil.
func (r *scaleRig) streamingTo(a *scaleAgent) *scaleCollector {
	for _, c := range r.cols {
		if v, err := scrape(a.metrics, `plumb_agent_collector_connected{address="`+c.addr+`"}`); err == nil && v == 1 {
			return c
		}
	}
	return nil
}

// work runs ops of every agent's workload, interleaved, a pause after
// each round, calling at(i) before op i.
func (r *scaleRig) work(t *testing.T, ops int, pause time.Duration, at func(i int)) {
	t.Helper()
	began := time.Now()
	for i := range ops {
		if at != nil {
			at(i)
		}
		time.Sleep(pause)
		for _, a := range r.agents {
			if err := a.work.next(); err != nil {
				t.Fatalf("workload of %s (seed %d): %v", a.host, r.seed, err)
			}
		}
	}
	t.Logf("workload: %d ops on each of %d hosts in %v", ops, len(r.agents), time.Since(began).Round(time.Millisecond))
}

// check holds every host's state, drift and webhooks to the disk, as
// seen through collector via and every collector not killed.
func (r *scaleRig) check(t *testing.T, via *scaleCollector, killed ...*scaleCollector) {
	t.Helper()
	var allItems []colItem
	for _, a := range r.agents {
		disk := readDisk(t, a.root)
		waitFor(t, 120*time.Second, a.host+" on the collectors to equal its disk, its spool drained", func() bool {
			h, err := collectorHost(via.addr, a.host)
			spool, err2 := scrape(a.metrics, "plumb_agent_spool_deltas")
			return err == nil && err2 == nil && h.SetDigest == disk.setDigest && spool == 0
		})
		var facts []colFact
		if err := ctlJSONErr(via.addr, &facts, "facts", "--host", a.host, "--kind", "file"); err != nil {
			t.Fatal(err)
		}
		reportProblems(t, a.host+" facts", compareFacts(disk, facts))
		h, err := collectorHost(via.addr, a.host)
		if err != nil {
			t.Fatal(err)
		}
		var items []colItem
		if err := ctlJSONErr(via.addr, &items, "drift", "--all", "--host", a.host); err != nil {
			t.Fatal(err)
		}
		files, health := splitHealth(items)
		for _, it := range health {
			if it.Status == "open" {
				h.OpenDrift--
			}
		}
		reportProblems(t, a.host+" drift items", checkItems(a.baseline, disk, files, h))
		allItems = append(allItems, items...)
		// Every collector sees the same state.
		for _, c := range r.cols {
			if slices.Contains(killed, c) {
				continue
			}
			if other, err := collectorHost(c.addr, a.host); err != nil || other.SetDigest != h.SetDigest {
				t.Errorf("%s: %s says set digest %.16s (err %v), %s says %.16s", a.host, c.proc.name, other.SetDigest, err, via.proc.name, h.SetDigest)
			}
		}
	}

	// The webhook receiver heard the whole shared log, each transition
	// under one id, and per host what leaves the disk's drift open.
	var last []string
	deadline := time.Now().Add(60 * time.Second)
	for {
		last = checkWebhooks(r.hook.events(), nil, allItems)
		if len(last) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	report(t, "webhooks", last)
	evs := r.hook.events()
	for _, a := range r.agents {
		var mine []event
		for _, ev := range evs {
			if ev.Host == a.host && ev.Kind != "health" {
				mine = append(mine, ev)
			}
		}
		reportProblems(t, a.host+" webhook replay", replayWebhooks(mine, a.baseline, readDisk(t, a.root)))
	}
	report(t, "deliveries", r.deliveryProblems(evs))
}

// deliveryProblems checks who delivered each event: always a collector of
// this test, one of them; an event id twice only across the fault (see
// scaleRig.faultStart), never three times.
func (r *scaleRig) deliveryProblems(evs []event) []string {
	name := map[string]string{}
	for _, c := range r.cols {
		name[c.instance] = c.proc.name
	}
	by := map[string][]event{}
	for _, ev := range evs {
		by[ev.ID] = append(by[ev.ID], ev)
	}
	var problems []string
	redelivered := 0
	for id, ds := range by {
		var who []string
		for _, d := range ds {
			inst := d.headers.Get("Plumb-Collector-Instance")
			if name[inst] == "" {
				problems = append(problems, fmt.Sprintf("event %s delivered by unknown instance %q", id, inst))
			}
			who = append(who, name[inst]+"@"+d.received.Format("15:04:05.000"))
		}
		if len(ds) == 1 {
			continue
		}
		first, again := ds[0], ds[1]
		ok := len(ds) == 2 && !r.faultStart.IsZero() &&
			!first.received.After(r.faultEnd) && !again.received.Before(r.faultStart)
		if ok && r.firstDeliverer != nil {
			ok = first.headers.Get("Plumb-Collector-Instance") == r.firstDeliverer.instance
		}
		if ok && r.redeliverer != nil {
			ok = again.headers.Get("Plumb-Collector-Instance") == r.redeliverer.instance
		}
		if ok {
			redelivered++
			continue
		}
		problems = append(problems, fmt.Sprintf("event %s delivered %d times: %v (fault %s to %s)", id, len(ds), who,
			r.faultStart.Format("15:04:05.000"), r.faultEnd.Format("15:04:05.000")))
	}
	r.t.Logf("%d event ids delivered; %d delivered again after the fault (their cursor commit was lost with it)", len(by), redelivered)
	return problems
}

// Two collectors, three agents, a seeded workload; the collector most
// agents stream to is SIGKILLed mid-workload. The agents fail over to the
// other, which takes over the notifier's lease too; afterwards every host
// equals its disk and each transition reached the receiver once.
func TestScaleOutFailover(t *testing.T) {
	t.Parallel()
	r := newScaleRig(t, 2, 3)
	victim, survivor := r.cols[0], r.cols[1]
	for _, a := range r.agents {
		if got := r.streamingTo(a); got != victim {
			t.Fatalf("%s streams to %v, want %s (the only collector up when it started)", a.host, got, victim.proc.name)
		}
	}
	if v, err := scrapeSum(victim.metrics, "plumb_alert_lease_held{"); err != nil || v != 1 {
		t.Fatalf("%s holds %v notifier leases (%v), want 1: it started first", victim.proc.name, v, err)
	}
	const ops = 400
	r.work(t, ops, 5*time.Millisecond, func(i int) {
		if i == ops/3 {
			r.faultStart = time.Now()
			victim.kill()
			t.Logf("killed %s, which every agent streamed to and which held the notifier lease, after op %d", victim.proc.name, i)
		}
	})
	// The survivor claims the lease once the dead one's expires (15s);
	// only what the victim delivered before its death may come again.
	r.faultEnd, r.firstDeliverer, r.redeliverer = r.faultStart, victim, survivor
	r.check(t, survivor, victim)
	for _, a := range r.agents {
		if got := r.streamingTo(a); got != survivor {
			t.Errorf("%s streams to %v after the kill, want %s", a.host, got, survivor.proc.name)
		}
		last, first := scaleFailoverTimes(t, a.proc.out.String(), victim.addr, survivor.addr, r.faultStart)
		t.Logf("%s failover (last ack from %s → first ack from %s): %v", a.host, victim.proc.name, survivor.proc.name, first.Sub(last).Round(time.Millisecond))
	}
	if v, err := scrapeSum(survivor.metrics, "plumb_alert_lease_held{"); err != nil || v != 1 {
		t.Errorf("the survivor holds %v notifier leases (%v), want 1", v, err)
	}
}

// scrapeSum sums the samples at addr whose series starts with prefix.
func scrapeSum(addr, prefix string) (float64, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sum, found := 0.0, false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", line, err)
		}
		sum, found = sum+v, true
	}
	if !found {
		return 0, fmt.Errorf("no %s… series at %s", prefix, addr)
	}
	return sum, sc.Err()
}

// scaleFailoverTimes reads an agent's JSON log: the last ack from dead,
// as its "failing over" line after the kill says, and its first ack from
// survivor after that.
func scaleFailoverTimes(t *testing.T, log, dead, survivor string, killed time.Time) (last, first time.Time) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Time     time.Time `json:"time"`
			Msg      string    `json:"msg"`
			From     string    `json:"from"`
			LastAck  time.Time `json:"last_ack"`
			Endpoint string    `json:"endpoint"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil || l.Time.Before(killed.Add(-time.Second)) {
			continue
		}
		switch {
		case l.Msg == "failing over" && l.From == dead && last.IsZero():
			last = l.LastAck
		case l.Msg == "first ack from collector" && l.Endpoint == survivor && !last.IsZero() && first.IsZero():
			first = l.Time
		}
	}
	if last.IsZero() || first.IsZero() {
		t.Fatalf("agent log lacks a 'failing over' from %s (last ack %v) then a 'first ack from collector' from %s (%v)", dead, last, survivor, first)
	}
	return last, first
}

// PostgreSQL restarted mid-workload: the collectors stop acknowledging
// (agents spool), nothing is lost, they resume by themselves.
func TestScaleOutPostgresRestart(t *testing.T) {
	t.Parallel()
	r := newScaleRig(t, 2, 3)
	const ops = 300
	r.work(t, ops, 5*time.Millisecond, func(i int) {
		if i != ops/3 {
			return
		}
		r.faultStart = time.Now()
		r.pg.Stop(t)
		t.Logf("PostgreSQL stopped after op %d", i)
		// Changes made while the database is down stay spooled.
		for range 20 {
			for _, a := range r.agents {
				if err := a.work.next(); err != nil {
					t.Fatal(err)
				}
			}
		}
		waitFor(t, 30*time.Second, "an agent to hold unacknowledged deltas", func() bool {
			for _, a := range r.agents {
				if v, err := scrape(a.metrics, "plumb_agent_spool_deltas"); err == nil && v > 0 {
					return true
				}
			}
			return false
		})
		time.Sleep(2 * time.Second)
		r.pg.Restart(t)
		r.faultEnd = time.Now()
		t.Logf("PostgreSQL restarted")
	})
	r.check(t, r.cols[1])
	for _, c := range r.cols {
		alive(t, c.proc)
	}
}

// The network between one collector and PostgreSQL is cut (a TCP proxy
// the test controls) mid-workload and restored: that collector's commits
// fail, its agents spool or move to the other, and it recovers; nothing
// is lost, no event is delivered twice.
func TestScaleOutDatabaseCut(t *testing.T) {
	t.Parallel()
	r := newScaleRigDB(t, 2)
	proxy := newTCPProxy(t, fmt.Sprintf("127.0.0.1:%d", r.pg.Port()))
	cutDSN := strings.Replace(r.dsn, fmt.Sprintf("127.0.0.1:%d", r.pg.Port()), proxy.addr(), 1)
	cut, other := r.startCollector(t, 0, cutDSN), (*scaleCollector)(nil)
	r.startAgents(t, 3)
	other = r.startCollector(t, 1, r.dsn)
	const ops = 300
	r.work(t, ops, 5*time.Millisecond, func(i int) {
		if i != ops/4 {
			return
		}
		r.faultStart = time.Now()
		proxy.setCut(true)
		t.Logf("cut %s (its agents' collector, the notifier's lease holder) from PostgreSQL after op %d", cut.proc.name, i)
		// Long enough for its lease to expire and the other to take
		// over, and for its agents to move.
		waitFor(t, 60*time.Second, other.proc.name+" to take the notifier over", func() bool {
			v, err := scrapeSum(other.metrics, "plumb_alert_lease_held{")
			return err == nil && v == 1
		})
		for range 20 {
			for _, a := range r.agents {
				if err := a.work.next(); err != nil {
					t.Fatal(err)
				}
			}
		}
		proxy.setCut(false)
		r.faultEnd = time.Now()
		t.Logf("mended the link after %v (%d connection ends cut)", r.faultEnd.Sub(r.faultStart).Round(time.Millisecond), proxy.cutCount())
	})
	if proxy.cutCount() == 0 {
		t.Error("the cut closed no connection: collector0 never used the link")
	}
	r.check(t, cut)
	for _, c := range r.cols {
		alive(t, c.proc)
	}
}

// plumbctl drift --watch against one collector sees a transition another
// collector committed: the agent streams only to collector A, the watch
// runs against collector B.
func TestScaleOutWatchAcrossCollectors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pg := pgtest.Start(t)
	dsn := pg.NewDatabase(t)
	hook := newHook(t)
	a := startCollector(t, filepath.Join(dir, "a"), hook.srv.URL, "--store-dsn", dsn)
	b := startCollector(t, filepath.Join(dir, "b"), hook.srv.URL, "--store-dsn", dsn)
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(tree, "app.conf"), "v1\n")
	startAgent(t, a.addr, filepath.Join(dir, "agent"), "watched", tree)
	waitBaseline(t, a.addr, "watched")

	watch := start(t, "watch via b", bin.ctl, append(append(ctlAuthArgs(b.addr), "--collector", b.addr), "-o", "json", "drift", "--watch")...)
	time.Sleep(time.Second) // the watch is established
	changed := time.Now()
	writeFile(t, filepath.Join(tree, "app.conf"), "v2\n")
	var seenAt time.Time
	waitFor(t, 30*time.Second, "collector B's watch to show A's drift", func() bool {
		for _, l := range strings.Split(watch.out.String(), "\n") {
			var ev struct {
				Type, Host, Key string
			}
			if json.Unmarshal([]byte(l), &ev) == nil && ev.Host == "watched" && strings.HasSuffix(ev.Key, "app.conf") && ev.Type == "drift.opened" {
				seenAt = time.Now()
				return true
			}
		}
		return false
	})
	t.Logf("B's watch showed the drift A committed %v after the write", seenAt.Sub(changed).Round(time.Millisecond))
	hook.await(t, 30*time.Second, "the drift's webhook", is("drift.opened", "watched", "", filepath.Join(tree, "app.conf")))
	alive(t, a.proc)
}
