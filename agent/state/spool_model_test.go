package state

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// modelCollector applies what the agent sends the way the collector does:
// deltas in order, bucket snapshots, and the first checkpoint adopts the
// baseline.
type modelCollector struct {
	t        *testing.T
	facts    map[fact.Key][]byte // key → digest
	applied  uint64
	baseline map[fact.Key][]byte // nil until a checkpoint adopts one
	// atCheckpoint is the agent's state when it wrote each checkpoint:
	// the test's own record of what it applied, never the DB's view.
	atCheckpoint map[uint64]map[fact.Key][]byte
	checked      int
	// inflight holds deltas read from the spool and sent, not yet
	// applied: the agent may compact its spool meanwhile.
	inflight []*plumbv1.Delta
}

func (c *modelCollector) digest() fact.SetDigest {
	var sd fact.SetDigest
	for k, d := range c.facts {
		sd.Add(k, d)
	}
	return sd
}

func (c *modelCollector) apply(d *plumbv1.Delta) {
	c.t.Helper()
	if d.GetSeq() <= c.applied {
		return
	}
	switch d.GetOp() {
	case plumbv1.DeltaOp_DELTA_OP_UPSERT:
		c.facts[fact.KeyOf(d.GetFact())] = d.GetFact().GetDigest()
	case plumbv1.DeltaOp_DELTA_OP_DELETE:
		delete(c.facts, fact.KeyOf(d.GetFact()))
	case plumbv1.DeltaOp_DELTA_OP_CHECKPOINT:
		want, ok := c.atCheckpoint[d.GetSeq()]
		if !ok {
			c.t.Fatalf("checkpoint %d the test never wrote", d.GetSeq())
		}
		if diff := diffStates(c.facts, want); diff != "" {
			c.t.Fatalf("at checkpoint %d the collector's state is not the agent's when it wrote it: %s", d.GetSeq(), diff)
		}
		sum := c.digest()
		if len(d.GetSetDigest()) == 0 || !bytes.Equal(d.GetSetDigest(), sum.Sum()) {
			c.t.Fatalf("checkpoint %d: set digest %x, collector's %x", d.GetSeq(), d.GetSetDigest(), sum.Sum())
		}
		if c.baseline == nil {
			c.baseline = maps.Clone(c.facts)
		}
		c.checked++
	}
	c.applied = d.GetSeq()
}

// session is one connection: handshake (resume, resync, checkpoint as the
// stream client does), then the spool sent and acknowledged.
func (c *modelCollector) session(d *DB) {
	c.t.Helper()
	c.inflight = nil // the old stream is gone, and what it carried
	sd := c.digest()
	buckets, err := d.Resume(c.applied, sd.Buckets())
	if err != nil {
		c.t.Fatal(err)
	}
	if len(buckets) > 0 {
		byBucket, err := d.ResyncBuckets(buckets)
		if err != nil {
			c.t.Fatal(err)
		}
		for _, b := range buckets {
			for k := range c.facts {
				if k.Bucket() == b {
					delete(c.facts, k)
				}
			}
			for _, f := range byBucket[b] {
				c.facts[fact.KeyOf(f)] = f.GetDigest()
			}
		}
		c.checkpoint(d)
	}
	c.deliver(d)
}

func (c *modelCollector) checkpoint(d *DB) {
	c.t.Helper()
	if err := d.Checkpoint(); err != nil {
		c.t.Fatal(err)
	}
	c.atCheckpoint[d.Status().Seq] = currentState(c.t, d)
}

// send reads the next deltas from the spool, as the stream does, without
// the collector applying them yet.
func (c *modelCollector) send(d *DB) {
	c.t.Helper()
	after := c.applied
	if n := len(c.inflight); n > 0 {
		after = c.inflight[n-1].GetSeq()
	}
	batch, err := d.Pending(after, 7)
	if err != nil {
		c.t.Fatal(err)
	}
	c.inflight = append(c.inflight, batch...)
}

func (c *modelCollector) deliver(d *DB) {
	c.t.Helper()
	if len(c.inflight) > 0 {
		for _, dl := range c.inflight {
			c.apply(dl)
		}
		c.inflight = nil
		if err := d.Ack(c.applied); err != nil {
			c.t.Fatal(err)
		}
	}
	for {
		batch, err := d.Pending(c.applied, 7)
		if err != nil {
			c.t.Fatal(err)
		}
		if len(batch) == 0 {
			c.agree(d)
			return
		}
		for _, dl := range batch {
			c.apply(dl)
		}
		if err := d.Ack(c.applied); err != nil {
			c.t.Fatal(err)
		}
	}
}

// agree checks, with nothing in flight, that the agent's view of the
// collector is the collector's, as the stream does on each ack: a
// difference would need a resync to repair, and none is called for
// unless buckets were dropped from the spool (dirty).
func (c *modelCollector) agree(d *DB) {
	c.t.Helper()
	d.mu.Lock()
	dirty := !d.dirty.empty()
	d.mu.Unlock()
	st := d.Status()
	if dirty || st.SpoolLen > 0 || st.AckedSeq != c.applied {
		return
	}
	sum := c.digest()
	if !bytes.Equal(st.AckedDigest, sum.Sum()) {
		c.t.Fatalf("at seq %d the agent's view of the collector (acked digest) is not the collector's: a resync would be needed", c.applied)
	}
}

// currentState reads the agent's facts.
func currentState(t *testing.T, d *DB) map[fact.Key][]byte {
	t.Helper()
	out := map[fact.Key][]byte{}
	err := d.Facts(plumbv1.FactKind_FACT_KIND_FILE, "", func(f *plumbv1.Fact) error {
		out[fact.KeyOf(f)] = f.GetDigest()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffStates(got, want map[fact.Key][]byte) string {
	for k, w := range want {
		if g, ok := got[k]; !ok {
			return fmt.Sprintf("%s missing", k)
		} else if !bytes.Equal(g, w) {
			return fmt.Sprintf("%s has another value", k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			return fmt.Sprintf("%s should not be there", k)
		}
	}
	return ""
}

// A new host whose collector is away changes, overflows its spool
// (compaction, then drops), is restarted, and reconnects, over and over.
// At every checkpoint the collector applies, its state must be exactly
// the agent's when it wrote that checkpoint: the first one becomes the
// baseline. Before, compaction moved facts past the checkpoint: a change
// made after it became part of the baseline, a deletion was never
// reported.
func TestSpoolKeepsTheStateAtEveryCheckpoint(t *testing.T) {
	seed := uint64(rand.Int64())
	if s := os.Getenv("PLUMB_SPOOL_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	for run := range 20 {
		seed := seed + uint64(run)
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Logf("seed %d (PLUMB_SPOOL_SEED)", seed)
			spoolModel(t, seed)
		})
	}
}

func spoolModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	dir := t.TempDir()
	// Between a few deltas and a few hundred: compaction and both kinds
	// of drop all happen.
	opts := Options{SpoolLimit: int64(1+rng.IntN(12)) << 10, Metrics: NewMetrics(nil)}
	d, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { d.Close() }()
	c := &modelCollector{t: t, facts: map[fact.Key][]byte{}, atCheckpoint: map[uint64]map[fact.Key][]byte{}}
	path := func() string { return fmt.Sprintf("/etc/f%02d", rng.IntN(60)) }

	// The initial snapshot, then Ready's checkpoint; the collector is away.
	var ops []source.Op
	for i := range 40 {
		ops = append(ops, up(fileFact(fmt.Sprintf("/etc/f%02d", i), "0")))
	}
	if _, err := d.Apply(ops); err != nil {
		t.Fatal(err)
	}
	c.checkpoint(d)
	initial := c.atCheckpoint[d.Status().Seq]

	online := false
	for step := range 400 {
		switch r := rng.IntN(100); {
		case r < 55:
			if _, err := d.Apply([]source.Op{up(fileFact(path(), fmt.Sprint(step)))}); err != nil {
				t.Fatal(err)
			}
		case r < 80:
			if _, err := d.Apply([]source.Op{del(path())}); err != nil {
				t.Fatal(err)
			}
		case r < 88:
			online = !online
			if online {
				c.session(d)
			}
		case r < 93:
			// The agent restarts: its in-memory bookkeeping is rebuilt.
			d.Close()
			if d, err = Open(dir, opts); err != nil {
				t.Fatal(err)
			}
			if online {
				c.session(d)
			}
		}
		select {
		case <-d.ResyncNeeded():
			if online {
				c.session(d)
			}
		default:
		}
		if online {
			// Sometimes the stream has read ahead of what the
			// collector applied when the agent next records.
			if rng.IntN(3) == 0 {
				c.send(d)
			} else {
				c.deliver(d)
			}
		}
	}
	if online {
		c.deliver(d) // what the live stream had read ahead
	}
	for range 3 { // until nothing more is asked for
		c.session(d)
		select {
		case <-d.ResyncNeeded():
			continue
		default:
		}
		break
	}
	if diff := diffStates(c.baseline, initial); c.baseline == nil || diff != "" {
		t.Fatalf("baseline is not the initial snapshot: %s", diff)
	}
	if diff := diffStates(c.facts, currentState(t, d)); diff != "" {
		t.Fatalf("collector and agent differ at the end: %s", diff)
	}
	if st := d.Status(); st.SpoolLen != 0 || !bytes.Equal(st.AckedDigest, st.Digest) {
		t.Fatalf("after the last session: %d spooled, acked digest equal to current: %v",
			st.SpoolLen, bytes.Equal(st.AckedDigest, st.Digest))
	}
	t.Logf("limit %d B: %d checkpoints checked, %v compactions, %v drops",
		opts.SpoolLimit, c.checked, count(t, opts.Metrics.Compactions), count(t, opts.Metrics.Drops))
}

func count(t *testing.T, c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
