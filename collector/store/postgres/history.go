package postgres

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// AppendAudit numbers like AppendEvent, from the writer row.
func (t *pgTx) AppendAudit(r *store.AuditRecord) error {
	if err := t.mustWrite("append audit"); err != nil {
		return err
	}
	seq, err := nextSeq(&t.auditSeq, "audit")
	if err != nil {
		return err
	}
	r.Seq = seq
	return t.insertAudit(r)
}

func (t *pgTx) insertAudit(r *store.AuditRecord) error {
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode audit %s: %w", r.Action, err)
	}
	return t.exec(fmt.Sprintf("append audit %s", r.Action),
		`INSERT INTO plumb_audit (seq, at, v) VALUES ($1, $2, $3)`, int64(r.Seq), r.At, v)
}

func (t *pgTx) AuditAfter(after uint64, limit int) ([]*store.AuditRecord, error) {
	if after >= math.MaxInt64 || limit <= 0 {
		return nil, nil
	}
	var out []*store.AuditRecord
	prev := int64(after)
	err := t.rows(`SELECT seq, v FROM plumb_audit WHERE seq > $1 ORDER BY seq LIMIT $2`, []any{int64(after), int64(limit)},
		func(rs pgx.Rows) error {
			var seq int64
			var v []byte
			if err := rs.Scan(&seq, &v); err != nil {
				return err
			}
			if err := checkNext(seq, &prev, len(out), limit); err != nil {
				return err
			}
			r := &store.AuditRecord{}
			if err := json.Unmarshal(v, r); err != nil {
				return fmt.Errorf("decode audit %d: %w", seq, err)
			}
			out = append(out, r)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("read audit: %w", err)
	}
	return out, nil
}

// PutFactChange keeps the first of two changes of one fact at the same
// instant, as the bbolt backend does.
func (t *pgTx) PutFactChange(host string, at int64, k fact.Key, old *plumbv1.Fact) error {
	v := []byte{}
	if old != nil {
		var err error
		if v, err = proto.Marshal(old); err != nil {
			return fmt.Errorf("encode fact history of host %q: %w", host, err)
		}
	}
	return t.exec(fmt.Sprintf("put fact history of host %q", host),
		`INSERT INTO plumb_fact_history (host, at, k, present, v) VALUES ($1, $2, $3, $4, $5)
		 ON CONFLICT (host, at, k) DO NOTHING`,
		[]byte(host), max(at, 0), k.Encode(), old != nil, v)
}

type historyRow struct {
	at      int64
	k, v    []byte
	present bool
}

func (t *pgTx) FactChanges(host string, after int64, fn func(*store.FactChange) error) error {
	return pages(func(last *historyRow) ([]historyRow, error) {
		q := `SELECT at, k, present, v FROM plumb_fact_history WHERE host = $1 AND at > $2 ORDER BY at, k LIMIT ` + limit
		args := []any{[]byte(host), after}
		if last != nil {
			q = `SELECT at, k, present, v FROM plumb_fact_history WHERE host = $1 AND (at, k) > ($2, $3) ORDER BY at, k LIMIT ` + limit
			args = []any{[]byte(host), last.at, last.k}
		}
		var out []historyRow
		err := t.rows(q, args, func(r pgx.Rows) error {
			var h historyRow
			if err := r.Scan(&h.at, &h.k, &h.present, &h.v); err != nil {
				return err
			}
			out = append(out, h)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read fact history of host %q: %w", host, err)
		}
		return out, nil
	}, func(h historyRow) error {
		k, err := fact.DecodeKey(h.k)
		if err != nil {
			return fmt.Errorf("fact history of host %q: %w", host, err)
		}
		ch := &store.FactChange{At: h.at, Key: k}
		if h.present {
			ch.Old = &plumbv1.Fact{}
			if err := proto.Unmarshal(h.v, ch.Old); err != nil {
				return fmt.Errorf("decode fact history of host %q: %w", host, err)
			}
		}
		return fn(ch)
	}, func(a, b *historyRow) bool { return a.at < b.at || a.at == b.at && bytes.Compare(a.k, b.k) < 0 })
}
