package postgres

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

func (t *pgTx) GroupBaseline(group string) (*store.GroupBaseline, error) {
	raw, err := t.rawRecord(recGroupBaselines, []byte(group))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("group %q baseline: %w", group, store.ErrNotFound)
	} else if err != nil {
		return nil, err
	}
	v := &store.GroupBaseline{}
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("decode group %q baseline: %w", group, err)
	}
	return v, nil
}

func (t *pgTx) PutGroupBaseline(g *store.GroupBaseline) error {
	if g.Group == "" {
		return errors.New("empty group name")
	}
	raw, err := json.Marshal(g)
	if err != nil {
		return fmt.Errorf("encode group %q baseline: %w", g.Group, err)
	}
	return t.putRaw(recGroupBaselines, []byte(g.Group), raw)
}

func (t *pgTx) GroupBaselineFact(group string, k fact.Key) (*plumbv1.Fact, error) {
	var v []byte
	err := t.one(func() error { return fmt.Errorf("group %q baseline %s: %w", group, k, store.ErrNotFound) },
		`SELECT v FROM plumb_group_facts WHERE grp = $1 AND k = $2`, []any{[]byte(group), k.Encode()}, &v)
	if err != nil {
		return nil, err
	}
	f := &plumbv1.Fact{}
	if err := proto.Unmarshal(v, f); err != nil {
		return nil, fmt.Errorf("decode group %q baseline %s: %w", group, k, err)
	}
	return f, nil
}

func (t *pgTx) GroupBaselineFacts(group string, fn func(*plumbv1.Fact) error) error {
	return pages(func(last *kv) ([]kv, error) {
		from := []byte{}
		if last != nil {
			from = last.k
		}
		var out []kv
		err := t.rows(`SELECT k, v FROM plumb_group_facts WHERE grp = $1 AND k > $2 ORDER BY k LIMIT `+limit,
			[]any{[]byte(group), from}, func(r pgx.Rows) error {
				var e kv
				if err := r.Scan(&e.k, &e.v); err != nil {
					return err
				}
				out = append(out, e)
				return nil
			})
		if err != nil {
			return nil, fmt.Errorf("read group %q baseline: %w", group, err)
		}
		return out, nil
	}, func(e kv) error {
		f := &plumbv1.Fact{}
		if err := proto.Unmarshal(e.v, f); err != nil {
			return fmt.Errorf("decode group %q baseline fact: %w", group, err)
		}
		return fn(f)
	}, byK)
}

func (t *pgTx) PutGroupBaselineFact(group string, f *plumbv1.Fact) error {
	k := fact.KeyOf(f)
	if k.Kind == plumbv1.FactKind_FACT_KIND_UNSPECIFIED {
		return fmt.Errorf("put group %q baseline: fact kind unspecified", group)
	}
	if group == "" {
		return errors.New("empty group name")
	}
	v, err := proto.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode group %q baseline %s: %w", group, k, err)
	}
	return t.exec(fmt.Sprintf("put group %q baseline %s", group, k),
		`INSERT INTO plumb_group_facts (grp, k, v) VALUES ($1, $2, $3) ON CONFLICT (grp, k) DO UPDATE SET v = EXCLUDED.v`,
		[]byte(group), k.Encode(), v)
}

func (t *pgTx) DeleteGroupBaselineFact(group string, k fact.Key) error {
	return t.exec(fmt.Sprintf("delete group %q baseline %s", group, k),
		`DELETE FROM plumb_group_facts WHERE grp = $1 AND k = $2`, []byte(group), k.Encode())
}

// exceptionKey orders exceptions as the bbolt backend does: uvarint
// length of the host id, the id, the fact key.
func exceptionKey(host string, k fact.Key) []byte {
	b := binary.AppendUvarint(nil, uint64(len(host)))
	b = append(b, host...)
	return append(b, k.Encode()...)
}

func decodeException(k, v []byte) (*store.GroupException, error) {
	e := &store.GroupException{}
	if err := json.Unmarshal(v, e); err != nil {
		return nil, fmt.Errorf("decode group exception: %w", err)
	}
	key, err := fact.DecodeKey(k)
	if err != nil {
		return nil, fmt.Errorf("decode group exception key: %w", err)
	}
	e.Key = key
	return e, nil
}

func (t *pgTx) GroupException(group, host string, k fact.Key) (*store.GroupException, error) {
	var key, v []byte
	err := t.one(func() error {
		return fmt.Errorf("group %q exception of host %q %s: %w", group, host, k, store.ErrNotFound)
	}, `SELECT k, v FROM plumb_group_exceptions WHERE grp = $1 AND ek = $2`, []any{[]byte(group), exceptionKey(host, k)}, &key, &v)
	if err != nil {
		return nil, err
	}
	return decodeException(key, v)
}

type exceptionRow struct{ ek, k, v []byte }

func (t *pgTx) GroupExceptions(group string, fn func(*store.GroupException) error) error {
	return pages(func(last *exceptionRow) ([]exceptionRow, error) {
		from := []byte{}
		if last != nil {
			from = last.ek
		}
		var out []exceptionRow
		err := t.rows(`SELECT ek, k, v FROM plumb_group_exceptions WHERE grp = $1 AND ek > $2 ORDER BY ek LIMIT `+limit,
			[]any{[]byte(group), from}, func(r pgx.Rows) error {
				var e exceptionRow
				if err := r.Scan(&e.ek, &e.k, &e.v); err != nil {
					return err
				}
				out = append(out, e)
				return nil
			})
		if err != nil {
			return nil, fmt.Errorf("read group %q exceptions: %w", group, err)
		}
		return out, nil
	}, func(e exceptionRow) error {
		ex, err := decodeException(e.k, e.v)
		if err != nil {
			return err
		}
		return fn(ex)
	}, func(a, b *exceptionRow) bool { return bytes.Compare(a.ek, b.ek) < 0 })
}

func (t *pgTx) PutGroupException(e *store.GroupException) error {
	if e.Host == "" {
		return errors.New("put group exception: empty host id")
	}
	if e.Group == "" {
		return errors.New("empty group name")
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return t.exec(fmt.Sprintf("put group %q exception", e.Group),
		`INSERT INTO plumb_group_exceptions (grp, ek, k, v) VALUES ($1, $2, $3, $4)
		 ON CONFLICT (grp, ek) DO UPDATE SET k = EXCLUDED.k, v = EXCLUDED.v`,
		[]byte(e.Group), exceptionKey(e.Host, e.Key), e.Key.Encode(), raw)
}

func (t *pgTx) DeleteGroupException(group, host string, k fact.Key) error {
	return t.exec(fmt.Sprintf("delete group %q exception", group),
		`DELETE FROM plumb_group_exceptions WHERE grp = $1 AND ek = $2`, []byte(group), exceptionKey(host, k))
}

// GroupNames implements store.GroupLister: groups with a baseline record,
// facts or exceptions.
func (t *pgTx) GroupNames(fn func(group string) error) error {
	var names []string
	err := t.rows(`SELECT g FROM (
			SELECT id AS g FROM plumb_records WHERE kind = $1
			UNION SELECT grp FROM plumb_group_facts
			UNION SELECT grp FROM plumb_group_exceptions) AS groups ORDER BY g`, []any{recGroupBaselines},
		func(r pgx.Rows) error {
			var g []byte
			if err := r.Scan(&g); err != nil {
				return err
			}
			names = append(names, string(g))
			return nil
		})
	if err != nil {
		return fmt.Errorf("list groups: %w", err)
	}
	for _, g := range names {
		if err := fn(g); err != nil {
			return err
		}
	}
	return nil
}
