// Package storecopy copies a collector's whole state from one Store to
// another and proves the copy (plumb-collector migrate, bbolt to
// PostgreSQL): hosts, facts, baselines, drift items, fact history, the
// event and audit logs with their seqs, cursors, credentials, silences,
// group baselines and exceptions, policies and collector-wide secrets.
// Leases are not copied: they are held by running collectors, and none
// runs during a migration.
package storecopy

import (
	"context"
	"errors"
	"fmt"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// batchSize is how many writes one target transaction takes.
const batchSize = 2000

// Source is the store to copy from: a Store whose read transactions list
// groups, and that tells the last seqs ever assigned (they survive
// pruning, so they are not the newest entries').
type Source interface {
	store.Store
	Sequences(ctx context.Context) (event, audit uint64, err error)
}

// Tables are the counts of what a store holds, by table.
type Tables map[string]int

// Names of the counted tables, in report order.
var TableNames = []string{
	"hosts", "facts", "baselines", "drift", "fact_history", "events", "audit", "cursors",
	"join_tokens", "api_tokens", "identities", "silences", "group_baselines", "group_facts",
	"group_exceptions", "policies", "secrets",
}

// Result is what Copy did and found.
type Result struct {
	Source, Target Tables
	// Digests is how many hosts' set digests were recomputed from the
	// target's facts and found equal to the source's.
	Digests int
	// Differences lists every mismatch found by the verification.
	Differences []string
}

// ErrTargetNotEmpty is returned by Copy when the target holds anything.
var ErrTargetNotEmpty = errors.New("the target store is not empty")

// SecretNames are the collector-wide secrets Copy carries, named as their
// files in the data directory.
var SecretNames = []string{"ca.crt", "ca.key", "digest.key"}

// Copy copies src into dst, which must be empty and must accept imports
// (store.ImportTx), then verifies the copy. secrets are collector-wide
// secrets read from the source's data directory, stored under their names.
func Copy(ctx context.Context, src Source, dst store.Store, secrets map[string][]byte) (*Result, error) {
	before, err := Count(ctx, dst)
	if err != nil {
		return nil, fmt.Errorf("count target: %w", err)
	}
	for _, name := range TableNames {
		if before[name] > 0 {
			return nil, fmt.Errorf("%w: it has %d %s", ErrTargetNotEmpty, before[name], name)
		}
	}
	w := &writer{ctx: ctx, dst: dst}
	evSeq, auSeq, err := src.Sequences(ctx)
	if err != nil {
		return nil, err
	}
	err = src.View(ctx, func(tx store.ReadTx) error { return copyAll(tx, w, secrets) })
	if err != nil {
		return nil, err
	}
	w.add(func(tx store.ImportTx) error { return tx.SetSequences(evSeq, auSeq) })
	if err := w.flush(); err != nil {
		return nil, err
	}
	return Verify(ctx, src, dst)
}

// writer batches writes into target transactions.
type writer struct {
	ctx     context.Context
	dst     store.Store
	pending []func(store.ImportTx) error
}

func (w *writer) add(op func(store.ImportTx) error) {
	w.pending = append(w.pending, op)
}

func (w *writer) put(op func(store.ImportTx) error) error {
	w.add(op)
	if len(w.pending) >= batchSize {
		return w.flush()
	}
	return nil
}

func (w *writer) flush() error {
	if len(w.pending) == 0 {
		return nil
	}
	ops := w.pending
	w.pending = nil
	return w.dst.Update(w.ctx, func(tx store.Tx) error {
		itx, ok := tx.(store.ImportTx)
		if !ok {
			return errors.New("the target store cannot import history with its seqs")
		}
		for _, op := range ops {
			if err := op(itx); err != nil {
				return err
			}
		}
		return nil
	})
}

func copyAll(tx store.ReadTx, w *writer, secrets map[string][]byte) error {
	err := tx.Hosts(func(h *store.Host) error {
		if err := w.put(func(t store.ImportTx) error { return t.PutHost(h) }); err != nil {
			return err
		}
		id := h.ID
		if err := tx.Facts(id, plumbv1.FactKind_FACT_KIND_UNSPECIFIED, func(f *plumbv1.Fact) error {
			return w.put(func(t store.ImportTx) error { return t.PutFact(id, f) })
		}); err != nil {
			return err
		}
		if err := tx.Baselines(id, func(f *plumbv1.Fact) error {
			return w.put(func(t store.ImportTx) error { return t.PutBaseline(id, f) })
		}); err != nil {
			return err
		}
		if err := tx.DriftItems(id, true, func(d *plumbv1.DriftItem) error {
			return w.put(func(t store.ImportTx) error { return t.PutDrift(d) })
		}); err != nil {
			return err
		}
		return tx.FactChanges(id, -1, func(c *store.FactChange) error {
			return w.put(func(t store.ImportTx) error { return t.PutFactChange(id, c.At, c.Key, c.Old) })
		})
	})
	if err != nil {
		return fmt.Errorf("copy hosts: %w", err)
	}
	for after := uint64(0); ; {
		evs, err := tx.EventsAfter(after, 1000)
		if err != nil {
			return fmt.Errorf("copy events: %w", err)
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			if err := w.put(func(t store.ImportTx) error { return t.ImportEvent(ev) }); err != nil {
				return err
			}
		}
		after = evs[len(evs)-1].GetSeq()
	}
	for after := uint64(0); ; {
		recs, err := tx.AuditAfter(after, 1000)
		if err != nil {
			return fmt.Errorf("copy audit: %w", err)
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			if err := w.put(func(t store.ImportTx) error { return t.ImportAudit(r) }); err != nil {
				return err
			}
		}
		after = recs[len(recs)-1].Seq
	}
	steps := []func() error{
		func() error {
			return tx.Cursors(func(name string, seq uint64) error {
				return w.put(func(t store.ImportTx) error { return t.SetCursor(name, seq) })
			})
		},
		func() error {
			return tx.JoinTokens(func(v *store.JoinToken) error {
				return w.put(func(t store.ImportTx) error { return t.PutJoinToken(v) })
			})
		},
		func() error {
			return tx.APITokens(func(v *store.APIToken) error {
				return w.put(func(t store.ImportTx) error { return t.PutAPIToken(v) })
			})
		},
		func() error {
			return tx.Identities(func(v *store.Identity) error {
				return w.put(func(t store.ImportTx) error { return t.PutIdentity(v) })
			})
		},
		func() error {
			return tx.Silences(func(v *store.Silence) error {
				return w.put(func(t store.ImportTx) error { return t.PutSilence(v) })
			})
		},
		func() error { return copyGroups(tx, w) },
		func() error {
			return tx.PoliciesBefore(0, func(p *store.Policy) error {
				return w.put(func(t store.ImportTx) error { return t.PutPolicy(p) })
			})
		},
		func() error {
			for _, name := range SecretNames {
				v, ok := secrets[name]
				if !ok {
					got, err := tx.Secret(name)
					if errors.Is(err, store.ErrNotFound) {
						continue
					} else if err != nil {
						return err
					}
					v = got
				}
				if err := w.put(func(t store.ImportTx) error { return t.PutSecret(name, v) }); err != nil {
					return err
				}
			}
			return nil
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

func copyGroups(tx store.ReadTx, w *writer) error {
	gl, ok := tx.(store.GroupLister)
	if !ok {
		return errors.New("the source store cannot list groups")
	}
	var groups []string
	if err := gl.GroupNames(func(g string) error { groups = append(groups, g); return nil }); err != nil {
		return err
	}
	for _, g := range groups {
		gb, err := tx.GroupBaseline(g)
		switch {
		case err == nil:
			if err := w.put(func(t store.ImportTx) error { return t.PutGroupBaseline(gb) }); err != nil {
				return err
			}
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		if err := tx.GroupBaselineFacts(g, func(f *plumbv1.Fact) error {
			return w.put(func(t store.ImportTx) error { return t.PutGroupBaselineFact(g, f) })
		}); err != nil {
			return err
		}
		if err := tx.GroupExceptions(g, func(e *store.GroupException) error {
			return w.put(func(t store.ImportTx) error { return t.PutGroupException(e) })
		}); err != nil {
			return err
		}
	}
	return nil
}

// Count counts what s holds, table by table, through its read API.
func Count(ctx context.Context, s store.Store) (Tables, error) {
	n := Tables{}
	err := s.View(ctx, func(tx store.ReadTx) error {
		var hosts []string
		if err := tx.Hosts(func(h *store.Host) error { hosts = append(hosts, h.ID); return nil }); err != nil {
			return err
		}
		n["hosts"] = len(hosts)
		for _, id := range hosts {
			counts := []struct {
				name string
				run  func(func() error) error
			}{
				{"facts", func(c func() error) error {
					return tx.Facts(id, 0, func(*plumbv1.Fact) error { return c() })
				}},
				{"baselines", func(c func() error) error { return tx.Baselines(id, func(*plumbv1.Fact) error { return c() }) }},
				{"drift", func(c func() error) error {
					return tx.DriftItems(id, true, func(*plumbv1.DriftItem) error { return c() })
				}},
				{"fact_history", func(c func() error) error {
					return tx.FactChanges(id, -1, func(*store.FactChange) error { return c() })
				}},
			}
			for _, cnt := range counts {
				if err := cnt.run(func() error { n[cnt.name]++; return nil }); err != nil {
					return err
				}
			}
		}
		for after := uint64(0); ; {
			evs, err := tx.EventsAfter(after, 1000)
			if err != nil || len(evs) == 0 {
				if err != nil {
					return err
				}
				break
			}
			n["events"] += len(evs)
			after = evs[len(evs)-1].GetSeq()
		}
		for after := uint64(0); ; {
			recs, err := tx.AuditAfter(after, 1000)
			if err != nil || len(recs) == 0 {
				if err != nil {
					return err
				}
				break
			}
			n["audit"] += len(recs)
			after = recs[len(recs)-1].Seq
		}
		inc := func(name string) func() error { return func() error { n[name]++; return nil } }
		errs := []error{
			tx.Cursors(func(string, uint64) error { return inc("cursors")() }),
			tx.JoinTokens(func(*store.JoinToken) error { return inc("join_tokens")() }),
			tx.APITokens(func(*store.APIToken) error { return inc("api_tokens")() }),
			tx.Identities(func(*store.Identity) error { return inc("identities")() }),
			tx.Silences(func(*store.Silence) error { return inc("silences")() }),
			tx.PoliciesBefore(0, func(*store.Policy) error { return inc("policies")() }),
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
		if gl, ok := tx.(store.GroupLister); ok {
			var groups []string
			if err := gl.GroupNames(func(g string) error { groups = append(groups, g); return nil }); err != nil {
				return err
			}
			for _, g := range groups {
				if _, err := tx.GroupBaseline(g); err == nil {
					n["group_baselines"]++
				} else if !errors.Is(err, store.ErrNotFound) {
					return err
				}
				if err := tx.GroupBaselineFacts(g, func(*plumbv1.Fact) error { return inc("group_facts")() }); err != nil {
					return err
				}
				if err := tx.GroupExceptions(g, func(*store.GroupException) error { return inc("group_exceptions")() }); err != nil {
					return err
				}
			}
		}
		for _, name := range SecretNames {
			if _, err := tx.Secret(name); err == nil {
				n["secrets"]++
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return nil
	})
	return n, err
}

// Verify compares dst with src: every host's set digest recomputed from
// the facts now in dst equals src's record of it (and dst's), the last
// seqs agree, and counts per table are equal except secrets, which dst
// may have from the data directory.
func Verify(ctx context.Context, src Source, dst store.Store) (*Result, error) {
	res := &Result{}
	var err error
	if res.Source, err = Count(ctx, src); err != nil {
		return nil, fmt.Errorf("count source: %w", err)
	}
	if res.Target, err = Count(ctx, dst); err != nil {
		return nil, fmt.Errorf("count target: %w", err)
	}
	for _, name := range TableNames {
		if name == "secrets" {
			continue // the source's come from files
		}
		if res.Source[name] != res.Target[name] {
			res.Differences = append(res.Differences, fmt.Sprintf("%s: %d in the source, %d in the target", name, res.Source[name], res.Target[name]))
		}
	}
	want := map[string]*store.Host{}
	if err := src.View(ctx, func(tx store.ReadTx) error {
		return tx.Hosts(func(h *store.Host) error { want[h.ID] = h; return nil })
	}); err != nil {
		return nil, err
	}
	evSeq, _, err := src.Sequences(ctx)
	if err != nil {
		return nil, err
	}
	err = dst.View(ctx, func(tx store.ReadTx) error {
		last, err := tx.LastEventSeq()
		if err != nil {
			return err
		}
		if last != evSeq {
			res.Differences = append(res.Differences, fmt.Sprintf("last event seq: %d in the source, %d in the target", evSeq, last))
		}
		for id, h := range want {
			var sum fact.SetDigest
			if err := tx.Facts(id, 0, func(f *plumbv1.Fact) error {
				sum.Add(fact.KeyOf(f), f.GetDigest())
				return nil
			}); err != nil {
				return err
			}
			got, err := tx.Host(id)
			if err != nil {
				res.Differences = append(res.Differences, fmt.Sprintf("host %q: %v", id, err))
				continue
			}
			switch {
			case string(sum.Sum()) != string(h.Digest.Sum()):
				res.Differences = append(res.Differences, fmt.Sprintf("host %q: set digest of the copied facts %x, the source's %x", id, sum.Sum(), h.Digest.Sum()))
			case string(got.Digest.Sum()) != string(h.Digest.Sum()) || got.AppliedSeq != h.AppliedSeq:
				res.Differences = append(res.Differences, fmt.Sprintf("host %q: record differs (applied seq %d, source %d)", id, got.AppliedSeq, h.AppliedSeq))
			default:
				res.Digests++
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}
