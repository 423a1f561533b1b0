package postgres

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

func (t *pgTx) Host(id string) (*store.Host, error) {
	var record, digest []byte
	err := t.one(func() error { return fmt.Errorf("host %q: %w", id, store.ErrNotFound) },
		`SELECT record, digest FROM plumb_hosts WHERE id = $1`, []any{[]byte(id)}, &record, &digest)
	if err != nil {
		return nil, err
	}
	return store.UnmarshalHost(record, digest)
}

func (t *pgTx) Hosts(fn func(*store.Host) error) error { return t.HostsAfter("", fn) }

type hostRow struct{ id, record, digest []byte }

func (t *pgTx) HostsAfter(after string, fn func(*store.Host) error) error {
	return pages(func(last *hostRow) ([]hostRow, error) {
		from := []byte(after)
		if last != nil {
			from = last.id
		}
		var out []hostRow
		err := t.rows(`SELECT id, record, digest FROM plumb_hosts WHERE id > $1 ORDER BY id LIMIT `+limit,
			[]any{from}, func(r pgx.Rows) error {
				var h hostRow
				if err := r.Scan(&h.id, &h.record, &h.digest); err != nil {
					return err
				}
				out = append(out, h)
				return nil
			})
		if err != nil {
			return nil, fmt.Errorf("list hosts: %w", err)
		}
		return out, nil
	}, func(h hostRow) error {
		host, err := store.UnmarshalHost(h.record, h.digest)
		if err != nil {
			return err
		}
		return fn(host)
	}, func(a, b *hostRow) bool { return bytes.Compare(a.id, b.id) < 0 })
}

func (t *pgTx) PutHost(h *store.Host) error {
	if h.ID == "" {
		return errors.New("empty host id")
	}
	record, digest, err := store.MarshalHost(h)
	if err != nil {
		return err
	}
	return t.exec(fmt.Sprintf("put host %q", h.ID),
		`INSERT INTO plumb_hosts (id, record, digest) VALUES ($1, $2, $3)
		 ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record, digest = EXCLUDED.digest`,
		[]byte(h.ID), record, digest)
}

// table is one of the per-host, fact-keyed tables.
type table struct {
	name string // SQL table
	what string // for messages, as the bbolt backend names its bucket
}

var (
	factsTable     = table{"plumb_facts", "facts"}
	baselinesTable = table{"plumb_baselines", "baselines"}
	driftTable     = table{"plumb_drift", "drift"}
)

func notFound(host string, tb table, k fact.Key) func() error {
	return func() error { return fmt.Errorf("host %q %s %s: %w", host, tb.what, k, store.ErrNotFound) }
}

// get decodes the value of k in the host's table into m.
func (t *pgTx) get(host string, tb table, k fact.Key, m proto.Message) error {
	key := k.Encode()
	v, known, err := t.pointRead(tb.name, host, key)
	if err != nil {
		return fmt.Errorf("read host %q %s %s: %w", host, tb.what, k, err)
	}
	if !known {
		// Queued writes do not touch this row (they would be known), so
		// the read need not wait for them.
		err := t.tx.QueryRow(t.ctx, `SELECT v FROM `+tb.name+` WHERE host = $1 AND k = $2`, []byte(host), key).Scan(&v)
		if errors.Is(err, pgx.ErrNoRows) {
			v = nil
		} else if err != nil {
			return fmt.Errorf("read host %q %s %s: %w", host, tb.what, k, err)
		}
	}
	if v == nil {
		return notFound(host, tb, k)()
	}
	if err := proto.Unmarshal(v, m); err != nil {
		return fmt.Errorf("decode host %q %s %s: %w", host, tb.what, k, err)
	}
	return nil
}

type kv struct{ k, v []byte }

// scanAfter calls fn with the value of each of the host's rows in tb, of
// kind (all kinds when unspecified), in key order, after key after (nil:
// from the first), and with extra conditions.
func (t *pgTx) scanAfter(host string, tb table, kind plumbv1.FactKind, after *fact.Key, extra string, fn func(v []byte) error) error {
	lo, hi := kindRange(kind)
	var from []byte
	if after != nil {
		from = after.Encode()
	}
	return pages(func(last *kv) ([]kv, error) {
		args := []any{[]byte(host)}
		q := `SELECT k, v FROM ` + tb.name + ` WHERE host = $1` + extra
		switch {
		case last != nil:
			args = append(args, last.k)
			q += fmt.Sprintf(" AND k > $%d", len(args))
		case from != nil:
			args = append(args, from)
			q += fmt.Sprintf(" AND k > $%d", len(args))
		}
		if lo != nil {
			args = append(args, lo)
			q += fmt.Sprintf(" AND k >= $%d", len(args))
		}
		if hi != nil {
			args = append(args, hi)
			q += fmt.Sprintf(" AND k < $%d", len(args))
		}
		q += ` ORDER BY k LIMIT ` + limit
		var out []kv
		err := t.rows(q, args, func(r pgx.Rows) error {
			var e kv
			if err := r.Scan(&e.k, &e.v); err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read host %q %s: %w", host, tb.what, err)
		}
		return out, nil
	}, func(e kv) error { return fn(e.v) }, byK)
}

// kindRange bounds the encoded keys of one kind: [lo, hi), hi nil for the
// last kind byte; both nil for all kinds.
func kindRange(kind plumbv1.FactKind) (lo, hi []byte) {
	if kind == plumbv1.FactKind_FACT_KIND_UNSPECIFIED {
		return nil, nil
	}
	b := byte(kind)
	if b == 0xff {
		return []byte{b}, nil
	}
	return []byte{b}, []byte{b + 1}
}

func (t *pgTx) put(host string, tb table, k fact.Key, m proto.Message, cols string, vals ...any) error {
	if k.Kind == plumbv1.FactKind_FACT_KIND_UNSPECIFIED {
		return fmt.Errorf("put host %q %s: fact kind unspecified", host, tb.what)
	}
	if host == "" {
		return errors.New("empty host id")
	}
	v, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode host %q %s %s: %w", host, tb.what, k, err)
	}
	if err := t.mustWrite("put"); err != nil {
		return err
	}
	enc := k.Encode()
	t.wrote(tb.name, host, enc, v)
	t.queueRow(tb.name, host, enc, &pendingRow{cols: cols, args: append([]any{[]byte(host), enc, v}, vals...)})
	if len(t.rowOrder) >= maxPendingRows {
		return t.flush()
	}
	return nil
}

func splitCols(cols string) []string {
	if cols == "" {
		return nil
	}
	var out []string
	start := 0
	for i := 0; i <= len(cols); i++ {
		if i == len(cols) || cols[i] == ',' {
			out = append(out, cols[start:i])
			start = i + 1
		}
	}
	return out
}

func (t *pgTx) del(host string, tb table, k fact.Key) error {
	if err := t.mustWrite("delete"); err != nil {
		return err
	}
	enc := k.Encode()
	t.wrote(tb.name, host, enc, nil)
	t.queueRow(tb.name, host, enc, &pendingRow{del: true, args: []any{[]byte(host), enc}})
	if len(t.rowOrder) >= maxPendingRows {
		return t.flush()
	}
	return nil
}

func (t *pgTx) Fact(host string, k fact.Key) (*plumbv1.Fact, error) {
	f := &plumbv1.Fact{}
	if err := t.get(host, factsTable, k, f); err != nil {
		return nil, err
	}
	return f, nil
}

func (t *pgTx) Facts(host string, kind plumbv1.FactKind, fn func(*plumbv1.Fact) error) error {
	return t.FactsAfter(host, kind, nil, fn)
}

func (t *pgTx) FactsAfter(host string, kind plumbv1.FactKind, after *fact.Key, fn func(*plumbv1.Fact) error) error {
	return t.scanAfter(host, factsTable, kind, after, "", func(v []byte) error {
		f, err := store.DecodeFact(host, "fact", v)
		if err != nil {
			return err
		}
		return fn(f)
	})
}

func (t *pgTx) FactsInBucket(host string, bucket uint32, fn func(*plumbv1.Fact) error) error {
	if bucket >= fact.BucketCount {
		return nil
	}
	return t.scanAfter(host, factsTable, plumbv1.FactKind_FACT_KIND_UNSPECIFIED, nil,
		fmt.Sprintf(" AND bucket = %d", bucket), func(v []byte) error {
			f, err := store.DecodeFact(host, "fact", v)
			if err != nil {
				return err
			}
			return fn(f)
		})
}

func (t *pgTx) PutFact(host string, f *plumbv1.Fact) error {
	k := fact.KeyOf(f)
	return t.put(host, factsTable, k, f, "bucket", int32(k.Bucket()))
}

func (t *pgTx) DeleteFact(host string, k fact.Key) error { return t.del(host, factsTable, k) }

func (t *pgTx) Baseline(host string, k fact.Key) (*plumbv1.Fact, error) {
	f := &plumbv1.Fact{}
	if err := t.get(host, baselinesTable, k, f); err != nil {
		return nil, err
	}
	return f, nil
}

func (t *pgTx) Baselines(host string, fn func(*plumbv1.Fact) error) error {
	return t.scanAfter(host, baselinesTable, plumbv1.FactKind_FACT_KIND_UNSPECIFIED, nil, "", func(v []byte) error {
		f, err := store.DecodeFact(host, "baseline", v)
		if err != nil {
			return err
		}
		return fn(f)
	})
}

func (t *pgTx) PutBaseline(host string, f *plumbv1.Fact) error {
	return t.put(host, baselinesTable, fact.KeyOf(f), f, "")
}

func (t *pgTx) DeleteBaseline(host string, k fact.Key) error { return t.del(host, baselinesTable, k) }
