package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/collector/store/pgtest"
	"github.com/plumb-dev/plumb/collector/store/postgres"
	"github.com/plumb-dev/plumb/pkg/fact"
)

func open(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mkFact(kind plumbv1.FactKind, key, value string) *plumbv1.Fact {
	return fact.Seal(&plumbv1.Fact{
		Kind:  kind,
		Key:   []byte(key),
		Attrs: &plumbv1.Fact_Value{Value: &plumbv1.ValueAttrs{Value: value}},
	})
}

// TestSameAsBolt runs one random, seeded workload against the bbolt
// backend and PostgreSQL, then reads everything back through every
// listing method of both and compares: same values, same order.
func TestSameAsBolt(t *testing.T) {
	c := pgtest.Start(t)
	pg := open(t, c.NewDatabase(t))
	bolt, err := store.Open(filepath.Join(t.TempDir(), "plumb.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer bolt.Close()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	ctx := context.Background()
	// Ids and keys that need byte order: non-UTF-8, a prefix of another,
	// bytes above 0x7f, characters a locale collation would reorder.
	hosts := []string{"a", "B", "a-1", "a\u00ff", "a~", "\xc3\xa9", "Z", "a\x00b"}
	keys := []string{"/etc/x", "/etc/X", "/etc/x/y", "/etc/\xff", "/etc/é", "/etc/e", "/ETC", "k-1", "k_1"}
	kinds := []plumbv1.FactKind{plumbv1.FactKind_FACT_KIND_FILE, plumbv1.FactKind_FACT_KIND_PACKAGE,
		plumbv1.FactKind_FACT_KIND_SYSCTL, plumbv1.FactKind_FACT_KIND_HEALTH}
	for round := 0; round < 20; round++ {
		rng := rand.New(rand.NewPCG(seed, uint64(round)))
		ops := genOps(rng, hosts, keys, kinds, round)
		for name, s := range map[string]store.Store{"bolt": bolt, "postgres": pg} {
			inTx = inTxLog[name]
			if err := s.Update(ctx, func(tx store.Tx) error {
				for _, op := range ops {
					if err := op(tx); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatalf("%s: round %d: %v", name, round, err)
			}
		}
	}
	// Reads inside the Updates, after writes of the same transaction (and
	// after Prefetch, which only PostgreSQL offers), saw the same.
	if diff := cmp.Diff(*inTxLog["bolt"], *inTxLog["postgres"]); diff != "" {
		t.Errorf("seed %d: reads inside Updates differ (-bolt +postgres):\n%s", seed, diff)
	}
	if len(*inTxLog["bolt"]) < 20 {
		t.Errorf("only %d reads inside Updates", len(*inTxLog["bolt"]))
	}
	pos := rand.New(rand.NewPCG(seed, 99))
	var positions []*store.DriftPos
	for range 10 {
		positions = append(positions, &store.DriftPos{Host: hosts[pos.IntN(len(hosts))],
			Key: fact.Key{Kind: kinds[pos.IntN(len(kinds))], ID: keys[pos.IntN(len(keys))]}})
	}
	want := dump(t, bolt, hosts, keys, kinds, positions)
	got := dump(t, pg, hosts, keys, kinds, positions)
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("seed %d: PostgreSQL differs from bbolt (-bolt +postgres):\n%s", seed, diff)
	}
	if len(want) < 50 {
		t.Fatalf("dump has %d lines: the workload did too little", len(want))
	}

	// Pruning by the same rules: events below every cursor, audit and
	// fact history, all older than the retention.
	now := time.Unix(0, 1000).Add(store.DefaultEventRetention)
	nb, err := bolt.Prune(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	np, err := pg.Prune(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if nb != np || nb == 0 {
		t.Errorf("seed %d: Prune deleted %d in bbolt, %d in PostgreSQL (want equal, not 0)", seed, nb, np)
	}
	want = dump(t, bolt, hosts, keys, kinds, positions)
	got = dump(t, pg, hosts, keys, kinds, positions)
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("seed %d: after Prune, PostgreSQL differs from bbolt (-bolt +postgres):\n%s", seed, diff)
	}
}

// inTx is where reads inside an Update log what they saw, one log per
// backend.
var (
	inTx    *[]string
	inTxLog = map[string]*[]string{"bolt": {}, "postgres": {}}
)

func genOps(rng *rand.Rand, hosts, keys []string, kinds []plumbv1.FactKind, round int) []func(store.Tx) error {
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	key := func() fact.Key { return fact.Key{Kind: kinds[rng.IntN(len(kinds))], ID: pick(keys)} }
	var ops []func(store.Tx) error
	for i := 0; i < 60; i++ {
		h, k, v := pick(hosts), key(), fmt.Sprintf("v%d", rng.IntN(5))
		f := mkFact(k.Kind, k.ID, v)
		switch rng.IntN(18) {
		case 16:
			var ks []fact.Key
			for range 5 {
				ks = append(ks, key())
			}
			ops = append(ops, func(tx store.Tx) error {
				if p, ok := tx.(store.Prefetcher); ok {
					return p.Prefetch(h, ks)
				}
				return nil
			})
		case 17:
			ops = append(ops, func(tx store.Tx) error {
				f, err := tx.Fact(h, k)
				b, err2 := tx.Baseline(h, k)
				d, err3 := tx.Drift(h, k)
				*inTx = append(*inTx, fmt.Sprintf("%q %s: fact %x %v; baseline %x %v; drift %s %v", h, k,
					f.GetDigest(), errors.Is(err, store.ErrNotFound), b.GetDigest(), errors.Is(err2, store.ErrNotFound),
					d.GetId(), errors.Is(err3, store.ErrNotFound)))
				return nil
			})
		case 0:
			hst := &store.Host{ID: h, AppliedSeq: rng.Uint64N(1000), Labels: map[string]string{"group": pick([]string{"g1", "g2"})}}
			hst.Digest.Add(k, f.GetDigest())
			ops = append(ops, func(tx store.Tx) error { return tx.PutHost(hst) })
		case 1, 2, 3:
			ops = append(ops, func(tx store.Tx) error { return tx.PutFact(h, f) })
		case 4:
			ops = append(ops, func(tx store.Tx) error { return tx.DeleteFact(h, k) })
		case 5:
			ops = append(ops, func(tx store.Tx) error { return tx.PutBaseline(h, f) })
		case 6:
			st := plumbv1.DriftStatus(1 + rng.IntN(3))
			item := &plumbv1.DriftItem{HostId: h, Kind: k.Kind, Key: []byte(k.ID), Status: st,
				Severity: plumbv1.Severity(rng.IntN(4)), Id: fmt.Sprintf("d-%d-%d", round, i)}
			ops = append(ops, func(tx store.Tx) error { return tx.PutDrift(item) })
		case 7:
			ops = append(ops, func(tx store.Tx) error { return tx.DeleteDrift(h, k) })
		case 8:
			ev := &plumbv1.DriftEvent{Id: fmt.Sprintf("e-%d-%d", round, i), AtUnixNano: int64(round*100 + i)}
			ops = append(ops, func(tx store.Tx) error { return tx.AppendEvent(ev) })
		case 9:
			name, seq := pick([]string{"n1", "n\xff", "N"}), rng.Uint64N(100)
			ops = append(ops, func(tx store.Tx) error { return tx.SetCursor(name, seq) })
		case 10:
			tok := &store.APIToken{ID: pick(keys), Name: v, Role: 1}
			ops = append(ops, func(tx store.Tx) error { return tx.PutAPIToken(tok) })
		case 11:
			g := pick([]string{"g1", "g2", "g\xff"})
			ops = append(ops, func(tx store.Tx) error { return tx.PutGroupBaselineFact(g, f) })
			ops = append(ops, func(tx store.Tx) error {
				return tx.PutGroupException(&store.GroupException{Group: g, Host: h, Key: k, Reason: v})
			})
			if rng.IntN(2) == 0 {
				ops = append(ops, func(tx store.Tx) error {
					return tx.PutGroupBaseline(&store.GroupBaseline{Group: g, Generation: uint64(round), SourceHost: h})
				})
			}
		case 12:
			at := int64(rng.IntN(50))
			var old *plumbv1.Fact
			if rng.IntN(2) == 0 {
				old = f
			}
			ops = append(ops, func(tx store.Tx) error { return tx.PutFactChange(h, at, k, old) })
		case 13:
			r := &store.AuditRecord{At: int64(round), Actor: "a", Action: "x.y", Target: v}
			ops = append(ops, func(tx store.Tx) error { return tx.AppendAudit(r) })
		case 14:
			p := &store.Policy{Version: uint64(1 + rng.IntN(300)), YAML: v}
			ops = append(ops, func(tx store.Tx) error { return tx.PutPolicy(p) })
		case 15:
			lease, secret := pick([]string{"l1", "l2"}), pick(keys)
			ops = append(ops, func(tx store.Tx) error {
				if _, err := tx.ClaimLease(lease, h, int64(round), int64(round+2)); err != nil {
					return err
				}
				return tx.PutSecret(secret, []byte(v))
			})
		}
	}
	return ops
}

// dump reads everything s holds through the ReadTx interface, as lines.
func dump(t *testing.T, s store.Store, hosts, keys []string, kinds []plumbv1.FactKind, positions []*store.DriftPos) []string {
	t.Helper()
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	addErr := func(what string, err error) {
		switch {
		case err == nil:
		case errors.Is(err, store.ErrNotFound):
			add("%s: not found", what)
		default:
			add("%s: error", what)
		}
	}
	err := s.View(context.Background(), func(tx store.ReadTx) error {
		_ = tx.Hosts(func(h *store.Host) error {
			add("host %q seq %d sum %x labels %v", h.ID, h.AppliedSeq, h.Digest.Sum(), h.Labels)
			return nil
		})
		_ = tx.HostsAfter("a", func(h *store.Host) error { add("after a: host %q", h.ID); return nil })
		for _, h := range hosts {
			_, err := tx.Host(h)
			addErr("host "+h, err)
			for _, kind := range append([]plumbv1.FactKind{0}, kinds...) {
				_ = tx.Facts(h, kind, func(f *plumbv1.Fact) error {
					add("fact %q %v %q %x", h, f.GetKind(), f.GetKey(), f.GetDigest())
					return nil
				})
				after := &fact.Key{Kind: kinds[1], ID: keys[2]}
				_ = tx.FactsAfter(h, kind, after, func(f *plumbv1.Fact) error { add("fact after %q %v %q", h, f.GetKind(), f.GetKey()); return nil })
			}
			for b := uint32(0); b < fact.BucketCount; b++ {
				_ = tx.FactsInBucket(h, b, func(f *plumbv1.Fact) error { add("bucket %d %q %q", b, h, f.GetKey()); return nil })
			}
			_ = tx.Baselines(h, func(f *plumbv1.Fact) error { add("baseline %q %q", h, f.GetKey()); return nil })
			for _, closed := range []bool{false, true} {
				_ = tx.DriftItems(h, closed, func(d *plumbv1.DriftItem) error {
					add("drift %v %q %q %s", closed, h, d.GetKey(), d.GetId())
					return nil
				})
			}
			c, err := tx.OpenDriftCounts(h)
			addErr("counts", err)
			add("counts %q %v", h, c)
			_ = tx.FactChanges(h, 10, func(ch *store.FactChange) error { add("change %q %d %s %v", h, ch.At, ch.Key, ch.Old); return nil })
			for _, k := range keys {
				for _, kind := range kinds {
					fk := fact.Key{Kind: kind, ID: k}
					f, err := tx.Fact(h, fk)
					addErr("fact", err)
					add("get fact %v", f)
					d, err := tx.Drift(h, fk)
					addErr("drift", err)
					add("get drift %v", d)
					b, err := tx.Baseline(h, fk)
					addErr("baseline", err)
					add("get baseline %v", b)
				}
			}
		}
		_ = tx.DriftItems("", true, func(d *plumbv1.DriftItem) error { add("all drift %q %q", d.GetHostId(), d.GetKey()); return nil })
		_ = tx.DriftItems("", false, func(d *plumbv1.DriftItem) error { add("open drift %q %q", d.GetHostId(), d.GetKey()); return nil })
		for _, p := range append(positions, nil) {
			for _, h := range append([]string{""}, hosts...) {
				for _, kind := range []plumbv1.FactKind{0, kinds[0]} {
					_ = tx.DriftItemsAfter(h, kind, p, func(d *plumbv1.DriftItem) error {
						add("drift after %v %q %v: %q %q", p, h, kind, d.GetHostId(), d.GetKey())
						return nil
					})
				}
			}
		}
		evs, err := tx.EventsAfter(3, 1000)
		addErr("events", err)
		for _, ev := range evs {
			add("event %d %s", ev.GetSeq(), ev.GetId())
		}
		last, err := tx.LastEventSeq()
		addErr("last", err)
		add("last event %d", last)
		_ = tx.Cursors(func(n string, seq uint64) error { add("cursor %q %d", n, seq); return nil })
		for _, n := range []string{"n1", "nope"} {
			seq, err := tx.Cursor(n)
			addErr("cursor", err)
			add("cursor %s %d", n, seq)
		}
		_ = tx.APITokens(func(a *store.APIToken) error { add("token %q %s", a.ID, a.Name); return nil })
		_ = tx.APITokensAfter(keys[3], func(a *store.APIToken) error { add("token after %q", a.ID); return nil })
		for _, g := range []string{"g1", "g2", "g\xff", "none"} {
			gb, err := tx.GroupBaseline(g)
			addErr("group", err)
			add("group %v", gb)
			_ = tx.GroupBaselineFacts(g, func(f *plumbv1.Fact) error { add("group fact %q %q", g, f.GetKey()); return nil })
			_ = tx.GroupExceptions(g, func(e *store.GroupException) error {
				add("exception %q %q %s %s", g, e.Host, e.Key, e.Reason)
				return nil
			})
		}
		if gl, ok := tx.(store.GroupLister); ok {
			_ = gl.GroupNames(func(g string) error { add("group name %q", g); return nil })
		} else {
			add("no GroupLister")
		}
		recs, err := tx.AuditAfter(2, 1000)
		addErr("audit", err)
		for _, r := range recs {
			add("audit %d %s", r.Seq, r.Target)
		}
		p, err := tx.LatestPolicy()
		addErr("latest policy", err)
		add("latest policy %v", p)
		for _, before := range []uint64{0, 1, 100, 256, 1000} {
			_ = tx.PoliciesBefore(before, func(p *store.Policy) error { add("policy before %d: %d", before, p.Version); return nil })
		}
		for _, n := range []string{"l1", "l2", "l3"} {
			l, err := tx.Lease(n)
			addErr("lease", err)
			add("lease %v", l)
		}
		for _, k := range keys {
			v, err := tx.Secret(k)
			addErr("secret", err)
			add("secret %q", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSchemaTooNew(t *testing.T) {
	c := pgtest.Start(t)
	dsn := c.NewDatabase(t)
	s := open(t, dsn)
	_ = s.Close()
	c.Exec(t, dsn, `UPDATE plumb_schema SET version = 999 WHERE id = 1`)
	_, err := postgres.Open(context.Background(), dsn, postgres.Options{ConnectTimeout: time.Second})
	if !errors.Is(err, postgres.ErrSchemaTooNew) {
		t.Fatalf("Open on schema 999 = %v, want ErrSchemaTooNew", err)
	}
	for _, want := range []string{"999", fmt.Sprint(postgres.LatestSchema())} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name version %s", err, want)
		}
	}
}

// TestConcurrentOpenMigratesOnce starts several stores on one empty
// database at once: all open, the schema is at the latest version, and
// its history names each migration once.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	c := pgtest.Start(t)
	dsn := c.NewDatabase(t)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := postgres.Open(context.Background(), dsn, postgres.Options{ConnectTimeout: 30 * time.Second})
			if err == nil {
				err = s.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	s := open(t, dsn)
	_ = s
	var n int
	checkRow(t, dsn, `SELECT count(*) FROM plumb_schema_history`, &n)
	if n != len(migrationsNames()) {
		t.Errorf("schema history has %d rows, want %d", n, len(migrationsNames()))
	}
}

func migrationsNames() []uint64 {
	var out []uint64
	for v := uint64(1); v <= postgres.LatestSchema(); v++ {
		out = append(out, v)
	}
	return out
}

func TestRedact(t *testing.T) {
	for _, dsn := range []string{
		"postgres://plumb:s3cr%21t@db:5432/plumb?sslmode=disable",
		"postgresql://plumb:s3cr!t@db/plumb",
		"postgres://plumb@db/plumb?password=s3cr!t",
		"host=db user=plumb password=s3cr!t dbname=plumb",
		"host=db user=plumb password='s3cr!t' dbname=plumb",
	} {
		got := postgres.Redact(dsn)
		if strings.Contains(got, "s3cr") {
			t.Errorf("Redact(%q) = %q: the password is still there", dsn, got)
		}
		if !strings.Contains(got, "xxxxx") {
			t.Errorf("Redact(%q) = %q: no mask", dsn, got)
		}
	}
}

// TestUnreachablePasswordNeverShown: an unreachable database is retried
// for the connect timeout, each failure logged, and neither the logs nor
// the error hold the password.
func TestUnreachablePasswordNeverShown(t *testing.T) {
	var logs strings.Builder
	logger := newLogger(&logs)
	dsn := "postgres://plumb:hunter2-secret@127.0.0.1:1/plumb?sslmode=disable&connect_timeout=1"
	start := time.Now()
	_, err := postgres.Open(context.Background(), dsn, postgres.Options{ConnectTimeout: 2 * time.Second, Logger: logger})
	if err == nil {
		t.Fatal("Open on a closed port succeeded")
	}
	if el := time.Since(start); el < 2*time.Second {
		t.Errorf("gave up after %v, before the 2s connect timeout", el)
	}
	if n := strings.Count(logs.String(), "database not ready"); n < 2 {
		t.Errorf("%d failures logged, want each of several attempts:\n%s", n, logs.String())
	}
	for _, s := range []string{err.Error(), logs.String()} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("password shown: %s", s)
		}
	}
	if !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("error %q does not say the database is unreachable", err)
	}
}
