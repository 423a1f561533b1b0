package state

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/pkg/fact"
)

func fileFact(path, content string) *plumbv1.Fact {
	return fact.Seal(&plumbv1.Fact{
		Kind: plumbv1.FactKind_FACT_KIND_FILE,
		Key:  []byte(path),
		Attrs: &plumbv1.Fact_File{File: &plumbv1.FileAttrs{
			Type: plumbv1.FileType_FILE_TYPE_REGULAR, Mode: 0o644, Size: int64(len(content)),
			Sha256: []byte(fmt.Sprintf("%032s", content)),
		}},
	})
}

func up(f *plumbv1.Fact) source.Op { return source.Op{Upsert: f} }
func del(path string) source.Op {
	k := fact.Key{Kind: plumbv1.FactKind_FACT_KIND_FILE, ID: path}
	return source.Op{Delete: &k}
}

func openDB(t *testing.T, dir string, opts Options) *DB {
	t.Helper()
	d, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func mustApply(t *testing.T, d *DB, want int, ops ...source.Op) {
	t.Helper()
	n, err := d.Apply(ops)
	if err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Fatalf("Apply spooled %d deltas, want %d", n, want)
	}
}

func TestApplySpoolsOnlyRealChanges(t *testing.T) {
	d := openDB(t, t.TempDir(), Options{})
	mustApply(t, d, 2, up(fileFact("/etc/a", "1")), up(fileFact("/etc/b", "1")))
	// A touch: same digest, new volatile attributes. Stored, not spooled.
	touched := fileFact("/etc/a", "1")
	touched.GetFile().MtimeUnixNano = 42
	mustApply(t, d, 0, up(touched))
	if f, ok := d.Lookup(fact.KeyOf(touched)); !ok || f.GetFile().GetMtimeUnixNano() != 42 {
		t.Fatalf("touch did not refresh the stored fact: %v", f)
	}
	mustApply(t, d, 1, up(fileFact("/etc/a", "2")))
	mustApply(t, d, 1, del("/etc/b"))
	mustApply(t, d, 0, del("/etc/never-seen"))
	mustApply(t, d, 1, source.Op{Checkpoint: true})

	got, err := d.Pending(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for i, dl := range got {
		if dl.GetSeq() != uint64(i+1) {
			t.Errorf("delta %d has seq %d", i, dl.GetSeq())
		}
		ops = append(ops, dl.GetOp().String()+" "+string(dl.GetFact().GetKey()))
	}
	want := "DELTA_OP_UPSERT /etc/a|DELTA_OP_UPSERT /etc/b|DELTA_OP_UPSERT /etc/a|DELTA_OP_DELETE /etc/b|DELTA_OP_CHECKPOINT "
	if s := strings.Join(ops, "|"); s != want {
		t.Fatalf("spool:\n got %s\nwant %s", s, want)
	}
	cp := got[len(got)-1]
	if st := d.Status(); !bytes.Equal(cp.GetSetDigest(), st.Digest) || cp.GetFactCount() != 1 {
		t.Fatalf("checkpoint digest/count %x/%d, state %x/%d", cp.GetSetDigest(), cp.GetFactCount(), st.Digest, st.Facts)
	}
}

func TestAckMovesAckedDigestToCurrent(t *testing.T) {
	d := openDB(t, t.TempDir(), Options{})
	var empty fact.SetDigest
	mustApply(t, d, 3, up(fileFact("/a", "1")), up(fileFact("/b", "1")), up(fileFact("/a", "2")))
	st := d.Status()
	if !bytes.Equal(st.AckedDigest, empty.Sum()) {
		t.Fatal("acked digest moved before any ack")
	}
	if err := d.Ack(2); err != nil {
		t.Fatal(err)
	}
	var want fact.SetDigest
	want.Add(fact.KeyOf(fileFact("/a", "1")), fileFact("/a", "1").GetDigest())
	want.Add(fact.KeyOf(fileFact("/b", "1")), fileFact("/b", "1").GetDigest())
	if st := d.Status(); !bytes.Equal(st.AckedDigest, want.Sum()) || st.SpoolLen != 1 || st.AckedSeq != 2 {
		t.Fatalf("after ack 2: %+v", st)
	}
	if err := d.Ack(3); err != nil {
		t.Fatal(err)
	}
	if st := d.Status(); !bytes.Equal(st.AckedDigest, st.Digest) || st.SpoolLen != 0 {
		t.Fatalf("after ack 3 acked %x != current %x", st.AckedDigest, st.Digest)
	}
}

func TestReopenRebuildsDigestsAndCounters(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, d, 3, up(fileFact("/a", "1")), up(fileFact("/b", "1")), up(fileFact("/c", "1")))
	if err := d.Ack(1); err != nil {
		t.Fatal(err)
	}
	before := d.Status()
	d.Close()
	d = openDB(t, dir, Options{})
	after := d.Status()
	if !bytes.Equal(before.Digest, after.Digest) || !bytes.Equal(before.AckedDigest, after.AckedDigest) ||
		before.Seq != after.Seq || before.AckedSeq != after.AckedSeq || before.SpoolLen != after.SpoolLen || before.Facts != after.Facts {
		t.Fatalf("reopen changed status:\nbefore %+v\nafter  %+v", before, after)
	}
}

func TestResumeWhenCollectorIsAhead(t *testing.T) {
	d := openDB(t, t.TempDir(), Options{})
	mustApply(t, d, 2, up(fileFact("/a", "1")), up(fileFact("/b", "1")))
	var collector fact.SetDigest // knows nothing of this state
	buckets, err := d.Resume(100, collector.Buckets())
	if err != nil {
		t.Fatal(err)
	}
	if st := d.Status(); st.Seq != 100 || st.SpoolLen != 0 {
		t.Fatalf("status after resume: %+v", st)
	}
	// Both facts' buckets must be resynced, nothing else.
	want := map[uint32]bool{
		fact.KeyOf(fileFact("/a", "1")).Bucket(): true,
		fact.KeyOf(fileFact("/b", "1")).Bucket(): true,
	}
	if len(buckets) != len(want) {
		t.Fatalf("buckets %v, want %v", buckets, want)
	}
	for _, b := range buckets {
		if !want[b] {
			t.Fatalf("unexpected bucket %d", b)
		}
	}
	mustApply(t, d, 1, up(fileFact("/a", "2")))
	p, _ := d.Pending(100, 10)
	if len(p) != 1 || p[0].GetSeq() != 101 {
		t.Fatalf("numbering did not continue above the collector: %v", p)
	}
}

func TestResyncBucketsDropTheirSpoolAndAgreeOnBuckets(t *testing.T) {
	d := openDB(t, t.TempDir(), Options{})
	var ops []source.Op
	for i := range 50 {
		ops = append(ops, up(fileFact(fmt.Sprintf("/f%d", i), "x")))
	}
	mustApply(t, d, 50, ops...)
	b := fact.KeyOf(fileFact("/f7", "x")).Bucket()
	other := (b + 1) % fact.BucketCount
	byBucket, err := d.ResyncBuckets([]uint32{b, other})
	if err != nil {
		t.Fatal(err)
	}
	facts := byBucket[b]
	inBucket, inOther := 0, 0
	for i := range 50 {
		switch fact.KeyOf(fileFact(fmt.Sprintf("/f%d", i), "x")).Bucket() {
		case b:
			inBucket++
		case other:
			inOther++
		}
	}
	if len(facts) != inBucket || len(byBucket[other]) != inOther {
		t.Fatalf("bucket snapshots have %d and %d facts, want %d and %d", len(facts), len(byBucket[other]), inBucket, inOther)
	}
	st := d.Status()
	if st.SpoolLen != 50-inBucket-inOther {
		t.Fatalf("spool has %d entries, want %d", st.SpoolLen, 50-inBucket-inOther)
	}
	if err := d.Ack(st.Seq); err != nil {
		t.Fatal(err)
	}
	if st := d.Status(); !bytes.Equal(st.AckedDigest, st.Digest) {
		t.Fatal("acked digest differs from current after resync and full ack")
	}
}

func TestSpoolCompactsPastItsLimit(t *testing.T) {
	d := openDB(t, t.TempDir(), Options{SpoolLimit: 8 << 10})
	// 3 facts rewritten many times: compaction keeps 3 entries.
	for round := range 100 {
		c := fmt.Sprint(round)
		mustApply(t, d, 3, up(fileFact("/a", c)), up(fileFact("/b", c)), up(fileFact("/c", c)))
	}
	st := d.Status()
	if st.SpoolBytes > 8<<10 {
		t.Fatalf("spool %d bytes over its 8 KiB limit", st.SpoolBytes)
	}
	p, err := d.Pending(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	latest := map[string]string{}
	for _, dl := range p {
		latest[string(dl.GetFact().GetKey())] = fmt.Sprintf("%x", dl.GetFact().GetDigest())
	}
	for _, k := range []string{"/a", "/b", "/c"} {
		if latest[k] != fmt.Sprintf("%x", fileFact(k, "99").GetDigest()) {
			t.Fatalf("%s: newest delta lost in compaction", k)
		}
	}
	if err := d.Ack(st.Seq); err != nil {
		t.Fatal(err)
	}
	if st := d.Status(); !bytes.Equal(st.AckedDigest, st.Digest) {
		t.Fatal("acked digest wrong after acking a compacted spool")
	}
}

func TestSpoolDroppedWhenCompactionIsNotEnough(t *testing.T) {
	d := openDB(t, t.TempDir(), Options{SpoolLimit: 2 << 10})
	// The collector has this host's baseline: it acknowledged a checkpoint.
	if err := d.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if err := d.Ack(d.Status().Seq); err != nil {
		t.Fatal(err)
	}
	var ops []source.Op
	for i := range 200 {
		ops = append(ops, up(fileFact(fmt.Sprintf("/many/%d", i), "x")))
	}
	if _, err := d.Apply(ops); err != nil {
		t.Fatal(err)
	}
	st := d.Status()
	if st.SpoolLen != 0 || st.Facts != 200 {
		t.Fatalf("status %+v: want empty spool, 200 facts kept", st)
	}
	select {
	case <-d.ResyncNeeded():
	default:
		t.Fatal("dropping the spool did not ask for a resync")
	}
	// Reopened, it still knows the collector has its baseline.
	d.Close()
	d = openDB(t, filepath.Dir(d.Path()), Options{SpoolLimit: 2 << 10})
	// The facts are not lost: the handshake finds the buckets that differ.
	var collector fact.SetDigest
	buckets, err := d.Resume(0, collector.Buckets())
	if err != nil {
		t.Fatal(err)
	}
	if len(buckets) == 0 {
		t.Fatal("dropped spool did not lead to a resync")
	}
}

// Until the collector has acknowledged a checkpoint, the first snapshot
// is the baseline it will adopt: it is never dropped, even past the limit,
// and the limit does not make every write compact.
func TestFirstSnapshotIsKeptPastTheLimit(t *testing.T) {
	m := NewMetrics(nil)
	d := openDB(t, t.TempDir(), Options{SpoolLimit: 2 << 10, Metrics: m})
	for i := range 400 {
		mustApply(t, d, 1, up(fileFact(fmt.Sprintf("/many/%03d", i), "x")))
	}
	if st := d.Status(); st.SpoolLen != 400 {
		t.Fatalf("%d deltas spooled, want the whole first snapshot (400)", st.SpoolLen)
	}
	if n := count(t, m.Compactions); n > 6 {
		t.Errorf("%v compactions for 400 writes: a spool over its limit compacts on every write", n)
	}
	if n := count(t, m.Drops); n != 0 {
		t.Errorf("%v drops of a first snapshot", n)
	}
}

func TestCorruptDatabaseIsSetAside(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), bytes.Repeat([]byte("not bolt "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	d := openDB(t, dir, Options{})
	mustApply(t, d, 1, up(fileFact("/a", "1")))
	aside, _ := filepath.Glob(filepath.Join(dir, FileName+".corrupt-*"))
	if len(aside) != 1 {
		t.Fatalf("corrupt file not set aside: %v", aside)
	}
}

func TestForeignBoltDatabaseIsSetAside(t *testing.T) {
	dir := t.TempDir()
	d := openDB(t, dir, Options{})
	d.Close()
	// Make it look like someone else's bbolt file: wrong magic.
	if err := rewriteMagic(filepath.Join(dir, FileName)); err != nil {
		t.Fatal(err)
	}
	d2 := openDB(t, dir, Options{})
	if st := d2.Status(); st.Facts != 0 {
		t.Fatalf("fresh db has %d facts", st.Facts)
	}
	aside, _ := filepath.Glob(filepath.Join(dir, FileName+".corrupt-*"))
	if len(aside) != 1 {
		t.Fatalf("foreign file not set aside: %v", aside)
	}
}

func TestUnchangedSettledFactIsNotRewritten(t *testing.T) {
	d := openDB(t, t.TempDir(), Options{})
	f := fileFact("/etc/a", "1")
	f.GetFile().CtimeUnixNano = 1
	f.ObservedUnixNano = 1 + int64(source.RacyWindow) // settled
	mustApply(t, d, 1, up(f))
	again := fileFact("/etc/a", "1")
	again.GetFile().CtimeUnixNano = 1
	again.ObservedUnixNano = 999 * int64(source.RacyWindow)
	mustApply(t, d, 0, up(again))
	if got, _ := d.Lookup(fact.KeyOf(f)); got.GetObservedUnixNano() != f.GetObservedUnixNano() {
		t.Fatal("an unchanged, settled fact was rewritten")
	}
	// Not settled yet (observed right after its ctime): the newer
	// observation is stored, so the fast path can trust it next time.
	racy := fileFact("/etc/b", "1")
	racy.GetFile().CtimeUnixNano = 1000
	racy.ObservedUnixNano = 1001
	mustApply(t, d, 1, up(racy))
	later := fileFact("/etc/b", "1")
	later.GetFile().CtimeUnixNano = 1000
	later.ObservedUnixNano = 1000 + int64(source.RacyWindow)
	mustApply(t, d, 0, up(later))
	if got, _ := d.Lookup(fact.KeyOf(racy)); got.GetObservedUnixNano() != later.GetObservedUnixNano() {
		t.Fatal("a racy fact's newer observation was not stored")
	}
}

// A spool that was over its limit with the first snapshot, once drained,
// shrinks again as soon as it next passes the limit: before, it waited
// until it had doubled past the old size.
func TestSpoolShrinksAgainAfterDraining(t *testing.T) {
	m := NewMetrics(nil)
	d := openDB(t, t.TempDir(), Options{SpoolLimit: 2 << 10, Metrics: m})
	var ops []source.Op
	for i := range 100 {
		ops = append(ops, up(fileFact(fmt.Sprintf("/many/%03d", i), "x")))
	}
	mustApply(t, d, 100, ops...)
	if err := d.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if err := d.Ack(d.Status().Seq); err != nil {
		t.Fatal(err)
	}
	drops := count(t, m.Drops)
	for i := range 40 {
		mustApply(t, d, 1, up(fileFact(fmt.Sprintf("/many/%03d", i), "y")))
	}
	if st := d.Status(); st.SpoolBytes > 2<<10 {
		t.Fatalf("spool of %d bytes over its 2 KiB limit after draining once", st.SpoolBytes)
	}
	if count(t, m.Drops) == drops {
		t.Fatal("no drop: the spool is bounded by luck")
	}
}

// Temp files that came and went while the collector was away leave
// nothing in a compacted spool: it is bounded by the facts that exist,
// not by every name an outage saw. Before, each left a delete, and a busy
// outage overflowed the spool of a small tree.
func TestCompactionForgetsWhatCameAndWent(t *testing.T) {
	m := NewMetrics(nil)
	d := openDB(t, t.TempDir(), Options{SpoolLimit: 4 << 10, Metrics: m})
	mustApply(t, d, 1, up(fileFact("/etc/kept", "0")))
	if err := d.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if err := d.Ack(d.Status().Seq); err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		tmp := fmt.Sprintf("/etc/kept.dpkg-new%d", i)
		mustApply(t, d, 2, up(fileFact(tmp, "x")), del(tmp))
	}
	if count(t, m.Compactions) == 0 {
		t.Fatal("never compacted: the test proves nothing")
	}
	if n := count(t, m.Drops); n != 0 {
		t.Fatalf("%v drops: compaction kept the deletes of facts that never reached the collector", n)
	}
	if err := d.Ack(d.Status().Seq); err != nil {
		t.Fatal(err)
	}
	if st := d.Status(); !bytes.Equal(st.AckedDigest, st.Digest) {
		t.Fatal("acked digest wrong after acking the compacted spool")
	}
}

// spoolWithOneSent returns a database with a 2 KiB spool limit, its first
// checkpoint acknowledged, and f's creation recorded and read by the
// stream (the returned delta), not yet acknowledged.
func spoolWithOneSent(t *testing.T, f *plumbv1.Fact) (*DB, *plumbv1.Delta) {
	t.Helper()
	d := openDB(t, t.TempDir(), Options{SpoolLimit: 2 << 10, Metrics: NewMetrics(nil)})
	if err := d.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if err := d.Ack(d.Status().Seq); err != nil {
		t.Fatal(err)
	}
	mustApply(t, d, 1, up(f))
	sent, err := d.Pending(d.Status().AckedSeq, 100) // the stream reads it
	if err != nil || len(sent) != 1 {
		t.Fatalf("pending %v, %v", sent, err)
	}
	return d, sent[0]
}

// compactAlone rewrites /etc/busy until the spool has been compacted, and
// fails the test if it was dropped instead.
func compactAlone(t *testing.T, d *DB) {
	t.Helper()
	for i := range 40 { // one fact rewritten: compaction keeps one delta
		mustApply(t, d, 1, up(fileFact("/etc/busy", fmt.Sprint(i))))
	}
	if count(t, d.metrics.Compactions) == 0 || count(t, d.metrics.Drops) != 0 {
		t.Fatalf("%v compactions, %v drops: the test needs compaction alone", count(t, d.metrics.Compactions), count(t, d.metrics.Drops))
	}
}

// A fact created and deleted within one stretch leaves nothing after
// compaction, unless its creation may already be on its way to the
// collector: then the delete must follow it. Before, it was dropped, and
// the collector kept a file the agent had seen go.
func TestCompactionKeepsTheDeleteOfAFactAlreadySent(t *testing.T) {
	d, sent := spoolWithOneSent(t, fileFact("/etc/x.dpkg-new", "x"))
	mustApply(t, d, 1, del("/etc/x.dpkg-new"))
	compactAlone(t, d)
	rest, err := d.Pending(sent.GetSeq(), 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, dl := range rest {
		if dl.GetOp() == plumbv1.DeltaOp_DELTA_OP_DELETE && string(dl.GetFact().GetKey()) == "/etc/x.dpkg-new" {
			return
		}
	}
	t.Fatal("the delete of a fact whose creation was sent was compacted away")
}

// A delta the stream has read may be applied by the collector before it
// says so: compaction must leave it alone. Before, it could be folded into
// a later delta of its fact, and when the collector then welcomed the
// agent back naming it applied, the acknowledged digest lacked it and the
// fact's bucket was resynced for nothing (the disk oracle caught it after
// a collector was killed mid-stream).
func TestCompactionLeavesSentDeltasAlone(t *testing.T) {
	first := fileFact("/etc/busy", "first")
	d, sent := spoolWithOneSent(t, first)
	// The collector applies it and crashes before acknowledging, while
	// the fact is rewritten.
	var theirs fact.SetDigest
	theirs.Add(fact.KeyOf(first), first.GetDigest())
	compactAlone(t, d)
	differ, err := d.Resume(sent.GetSeq(), theirs.Buckets())
	if err != nil {
		t.Fatal(err)
	}
	if len(differ) != 0 {
		t.Fatalf("buckets %v differ from a collector that applied what it was sent", differ)
	}
}

// storedDigest reads the digest field as a full decode does, whatever the
// other fields hold.
func TestStoredDigest(t *testing.T) {
	for _, f := range []*plumbv1.Fact{
		fileFact("/etc/hosts", "127.0.0.1 localhost"),
		fileFact("/", ""),
		{Kind: plumbv1.FactKind_FACT_KIND_PACKAGE, Key: []byte("nginx:amd64")},
		fact.Seal(&plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_PACKAGE, Key: []byte("nginx:amd64"), ObservedUnixNano: 42,
			Attrs: &plumbv1.Fact_Package{Package: &plumbv1.PackageAttrs{Version: "1.24.0"}}}),
	} {
		v, err := proto.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := storedDigest(v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, f.GetDigest()) {
			t.Errorf("%s: digest %x, want %x", f.GetKey(), got, f.GetDigest())
		}
	}
	v, _ := proto.Marshal(fileFact("/etc/hosts", "x"))
	if _, err := storedDigest(v[:len(v)-1]); err == nil {
		t.Error("a truncated fact gave no error")
	}
}

// Keys lists what Facts lists, by key.
func TestKeysListsWhatFactsLists(t *testing.T) {
	d := openDB(t, t.TempDir(), Options{})
	mustApply(t, d, 4, up(fileFact("/etc/a", "1")), up(fileFact("/etc/b/c", "2")), up(fileFact("/etcetera", "3")), up(fileFact("/srv/x", "4")))
	for _, prefix := range []string{"", "/etc", "/etc/b", "/nope"} {
		var facts, keys []string
		if err := d.Facts(plumbv1.FactKind_FACT_KIND_FILE, prefix, func(f *plumbv1.Fact) error {
			facts = append(facts, fact.KeyOf(f).String())
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := d.Keys(plumbv1.FactKind_FACT_KIND_FILE, prefix, func(k fact.Key) error {
			keys = append(keys, k.String())
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if strings.Join(keys, ",") != strings.Join(facts, ",") {
			t.Errorf("prefix %q: Keys %v, Facts %v", prefix, keys, facts)
		}
	}
	var n int
	_ = d.Keys(plumbv1.FactKind_FACT_KIND_PACKAGE, "", func(fact.Key) error { n++; return nil })
	if n != 0 {
		t.Errorf("Keys of packages gave %d, want 0", n)
	}
}

// decodeEntryDigests reads what decodeEntry reads, for every kind of
// entry.
func TestEntryDigestsMatchDecodedEntries(t *testing.T) {
	f := fileFact("/etc/hosts", "a")
	for _, e := range []entry{
		{delta: &plumbv1.Delta{Seq: 1, Op: plumbv1.DeltaOp_DELTA_OP_UPSERT, Fact: f, ObservedUnixNano: 5}},
		{base: bytes.Repeat([]byte{7}, 32), delta: &plumbv1.Delta{Seq: 2, Op: plumbv1.DeltaOp_DELTA_OP_UPSERT, Fact: fileFact("/etc/hosts", "b"),
			PackageChange: &plumbv1.PackageChange{}}},
		{base: f.GetDigest(), delta: &plumbv1.Delta{Seq: 3, Op: plumbv1.DeltaOp_DELTA_OP_DELETE,
			Fact: &plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte("/etc/hosts")}}},
		{delta: &plumbv1.Delta{Seq: 4, Op: plumbv1.DeltaOp_DELTA_OP_CHECKPOINT, SetDigest: bytes.Repeat([]byte{1}, 32), FactCount: 9}},
	} {
		v, err := e.encode()
		if err != nil {
			t.Fatal(err)
		}
		full, err := decodeEntry(v)
		if err != nil {
			t.Fatal(err)
		}
		light, err := decodeEntryDigests(v)
		if err != nil {
			t.Fatal(err)
		}
		fk, fok := full.key()
		lk, lok := light.factKey()
		if fk != lk || fok != lok || !bytes.Equal(full.base, light.base) || !bytes.Equal(full.value(), light.value()) {
			t.Errorf("seq %d: light (%v %v %x %x) differs from full (%v %v %x %x)", e.delta.GetSeq(),
				lk, lok, light.base, light.value(), fk, fok, full.base, full.value())
		}
		var a, b fact.SetDigest
		full.apply(&a)
		light.apply(&b)
		if !bytes.Equal(a.Sum(), b.Sum()) {
			t.Errorf("seq %d: apply differs", e.delta.GetSeq())
		}
		if _, err := decodeEntryDigests(v[:len(v)-1]); err == nil && len(v) > 2 {
			t.Errorf("seq %d: a truncated entry gave no error", e.delta.GetSeq())
		}
	}
}

// A batch is written in key order, but two changes of one key keep their
// order and none crosses a checkpoint.
func TestApplyOrder(t *testing.T) {
	ops := []source.Op{
		up(fileFact("/c", "1")), up(fileFact("/a", "1")), del("/c"), up(fileFact("/b", "1")),
		{Checkpoint: true},
		up(fileFact("/a", "2")), del("/a"), up(fileFact("/0", "1")),
	}
	order, keys := inKeyOrder(ops)
	var got []string
	for _, i := range order {
		switch {
		case ops[i].Checkpoint:
			got = append(got, "checkpoint")
		case ops[i].Delete != nil:
			got = append(got, "del"+string(keys[i][1:]))
		default:
			got = append(got, "up"+string(keys[i][1:])+"="+string(bytes.TrimLeft(ops[i].Upsert.GetFile().GetSha256(), "0")))
		}
	}
	want := "up/a=1 up/b=1 up/c=1 del/c checkpoint up/0=1 up/a=2 del/a"
	if strings.Join(got, " ") != want {
		t.Fatalf("order:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	// And the state after it is the state of the ops in their order.
	d := openDB(t, t.TempDir(), Options{})
	if _, err := d.Apply(ops); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{"/a": false, "/b": true, "/c": false, "/0": true} {
		if _, ok := d.Lookup(fact.Key{Kind: plumbv1.FactKind_FACT_KIND_FILE, ID: path}); ok != want {
			t.Errorf("%s stored: %v, want %v", path, ok, want)
		}
	}
	// The deltas are spooled in the order reported.
	deltas, err := d.Pending(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, dl := range deltas {
		got = append(got, strings.TrimPrefix(dl.GetOp().String(), "DELTA_OP_")+string(dl.GetFact().GetKey()))
	}
	if want := "UPSERT/c UPSERT/a DELETE/c UPSERT/b CHECKPOINT UPSERT/a DELETE/a UPSERT/0"; strings.Join(got, " ") != want {
		t.Errorf("spool:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
}

// TestReopenDigestOfManyFacts reopens a database of thousands of facts,
// many chunks for the open's parallel digest, after a seeded mix of
// upserts, rewrites and deletes: its set digest and fact count must equal
// pkg/fact's digest computed here over the facts that should remain.
func TestReopenDigestOfManyFacts(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	dir := t.TempDir()
	d := openDB(t, dir, Options{})
	want := map[string]*plumbv1.Fact{}
	for range 6 {
		var ops []source.Op
		for range 1000 {
			p := fmt.Sprintf("/f/%d", rng.IntN(5000))
			if rng.IntN(10) == 0 {
				ops = append(ops, del(p))
				delete(want, p)
				continue
			}
			f := fileFact(p, fmt.Sprint(rng.Uint32()))
			ops = append(ops, up(f))
			want[p] = f
		}
		if _, err := d.Apply(ops); err != nil {
			t.Fatal(err)
		}
	}
	// The reopen reads the digest Apply kept (checked below against
	// the facts that should remain), not one rebuilt from every fact.
	_ = d.db.View(func(tx *bolt.Tx) error {
		if _, _, ok := storedSetDigest(tx.Bucket(bucketMeta), d.seq); !ok {
			t.Errorf("Apply kept no digest of seq %d", d.seq)
		}
		return nil
	})
	d.Close()
	d = openDB(t, dir, Options{})
	var sum fact.SetDigest
	for _, f := range want {
		sum.Add(fact.KeyOf(f), f.GetDigest())
	}
	if st := d.Status(); !bytes.Equal(st.Digest, sum.Sum()) || st.Facts != uint64(len(want)) {
		t.Fatalf("reopened: digest %x facts %d, want %x and %d", st.Digest, st.Facts, sum.Sum(), len(want))
	}
}

// TestPendingWireIsPending: what PendingWire returns decodes to what
// Pending returns, seq for seq, from every starting point, before and
// after acknowledgements.
func TestPendingWireIsPending(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 13))
	d := openDB(t, t.TempDir(), Options{})
	for round := range 5 {
		var ops []source.Op
		for range 200 {
			p := fmt.Sprintf("/f/%d", rng.IntN(300))
			if rng.IntN(8) == 0 {
				ops = append(ops, del(p))
			} else {
				ops = append(ops, up(fileFact(p, fmt.Sprint(rng.Uint32()))))
			}
		}
		if _, err := d.Apply(ops); err != nil {
			t.Fatal(err)
		}
		if round%2 == 1 {
			if err := d.Ack(d.Status().Seq / 2); err != nil {
				t.Fatal(err)
			}
		}
		for range 20 {
			after, limit := uint64(rng.IntN(int(d.Status().Seq)+2)), 1+rng.IntN(300)
			want, err := d.Pending(after, limit)
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.PendingWire(after, limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("after %d limit %d: %d deltas in wire form, %d decoded", after, limit, len(got), len(want))
			}
			for i := range got {
				dec := &plumbv1.Delta{}
				if err := proto.Unmarshal(got[i].Bytes, dec); err != nil || got[i].Seq != want[i].GetSeq() || !proto.Equal(dec, want[i]) {
					t.Fatalf("after %d, #%d: seq %d %v (err %v), want %v", after, i, got[i].Seq, dec, err, want[i])
				}
			}
		}
	}
}

// diskDigest is pkg/fact's set digest of the facts in the file itself,
// read with bbolt, not through the DB.
func diskDigest(t *testing.T, d *DB) ([]byte, uint64) {
	t.Helper()
	var sum fact.SetDigest
	var n uint64
	err := d.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketFacts).ForEach(func(k, v []byte) error {
			f := &plumbv1.Fact{}
			if err := proto.Unmarshal(v, f); err != nil {
				return err
			}
			sum.Add(fact.KeyOf(f), f.GetDigest())
			n++
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return sum.Sum(), n
}

// TestReopenKeepsNoStaleDigest: an open takes the set digest Apply kept
// only if it is that of the stored sequence number. An older agent that
// wrote facts and moved the number on without keeping it, or a kept
// digest cut short, make the open digest every fact again; each reopen
// must give the digest of the facts on disk.
func TestReopenKeepsNoStaleDigest(t *testing.T) {
	dir := t.TempDir()
	d := openDB(t, dir, Options{})
	var ops []source.Op
	for i := range 300 {
		ops = append(ops, up(fileFact(fmt.Sprintf("/f/%d", i), "v1")))
	}
	if _, err := d.Apply(ops); err != nil {
		t.Fatal(err)
	}
	// Resume moving the number on keeps the digest current too.
	if _, err := d.Resume(d.Status().Seq+50, nil); err != nil {
		t.Fatal(err)
	}
	_ = d.db.View(func(tx *bolt.Tx) error {
		if _, _, ok := storedSetDigest(tx.Bucket(bucketMeta), d.seq); !ok {
			t.Errorf("no kept digest of seq %d after Resume moved it on", d.seq)
		}
		return nil
	})
	for _, spoil := range []struct {
		name string
		fn   func(tx *bolt.Tx) error
	}{
		{"an older agent's write", func(tx *bolt.Tx) error {
			fb, meta := tx.Bucket(bucketFacts), tx.Bucket(bucketMeta)
			if err := fb.Delete(fact.Key{Kind: plumbv1.FactKind_FACT_KIND_FILE, ID: "/f/7"}.Encode()); err != nil {
				return err
			}
			f := fileFact("/f/new", "v1")
			v, err := proto.Marshal(f)
			if err != nil {
				return err
			}
			if err := fb.Put(fact.KeyOf(f).Encode(), v); err != nil {
				return err
			}
			return meta.Put(keySeq, u64(getU64(meta.Get(keySeq))+1))
		}},
		{"a kept digest cut short", func(tx *bolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			return meta.Put(keySetDigest, bytes.Clone(meta.Get(keySetDigest))[:100])
		}},
	} {
		if err := d.db.Update(spoil.fn); err != nil {
			t.Fatal(err)
		}
		d.Close()
		d = openDB(t, dir, Options{})
		want, n := diskDigest(t, d)
		if st := d.Status(); !bytes.Equal(st.Digest, want) || st.Facts != n {
			t.Errorf("after %s: reopened with digest %x, %d facts; the disk has %x, %d", spoil.name, st.Digest, st.Facts, want, n)
		}
	}
}
