package postgres

import (
	"bytes"
	"fmt"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

func decodeDrift(host string, v []byte) (*plumbv1.DriftItem, error) {
	item := &plumbv1.DriftItem{}
	if err := proto.Unmarshal(v, item); err != nil {
		return nil, fmt.Errorf("decode drift item of host %q: %w", host, err)
	}
	return item, nil
}

func (t *pgTx) Drift(host string, k fact.Key) (*plumbv1.DriftItem, error) {
	item := &plumbv1.DriftItem{}
	if err := t.get(host, driftTable, k, item); err != nil {
		return nil, err
	}
	return item, nil
}

func (t *pgTx) PutDrift(item *plumbv1.DriftItem) error {
	k := fact.Key{Kind: item.GetKind(), ID: string(item.GetKey())}
	open := item.GetStatus() == plumbv1.DriftStatus_DRIFT_STATUS_OPEN
	return t.put(item.GetHostId(), driftTable, k, item, "open,severity", open, int32(item.GetSeverity()))
}

func (t *pgTx) DeleteDrift(host string, k fact.Key) error { return t.del(host, driftTable, k) }

func (t *pgTx) DriftItems(host string, includeClosed bool, fn func(*plumbv1.DriftItem) error) error {
	extra := ""
	if !includeClosed {
		extra = " AND open"
	}
	if host != "" {
		return t.scanAfter(host, driftTable, plumbv1.FactKind_FACT_KIND_UNSPECIFIED, nil, extra, func(v []byte) error {
			item, err := decodeDrift(host, v)
			if err != nil {
				return err
			}
			return fn(item)
		})
	}
	return t.allDrift(plumbv1.FactKind_FACT_KIND_UNSPECIFIED, nil, extra, fn)
}

func (t *pgTx) DriftItemsAfter(host string, kind plumbv1.FactKind, after *store.DriftPos, fn func(*plumbv1.DriftItem) error) error {
	if host == "" {
		return t.allDrift(kind, after, "", fn)
	}
	var from *fact.Key
	switch {
	case after == nil || after.Host < host:
	case after.Host == host:
		from = &after.Key
	default:
		return nil // past this host's items
	}
	return t.scanAfter(host, driftTable, kind, from, "", func(v []byte) error {
		item, err := decodeDrift(host, v)
		if err != nil {
			return err
		}
		return fn(item)
	})
}

type driftRow struct{ host, k, v []byte }

// allDrift calls fn for every host's drift items of kind in (host, key)
// order, after position after.
func (t *pgTx) allDrift(kind plumbv1.FactKind, after *store.DriftPos, extra string, fn func(*plumbv1.DriftItem) error) error {
	lo, hi := kindRange(kind)
	return pages(func(last *driftRow) ([]driftRow, error) {
		var args []any
		q := `SELECT host, k, v FROM plumb_drift WHERE TRUE` + extra
		switch {
		case last != nil:
			args = append(args, last.host, last.k)
			q += ` AND (host, k) > ($1, $2)`
		case after != nil:
			args = append(args, []byte(after.Host), after.Key.Encode())
			q += ` AND (host, k) > ($1, $2)`
		}
		if lo != nil {
			args = append(args, lo)
			q += fmt.Sprintf(" AND k >= $%d", len(args))
		}
		if hi != nil {
			args = append(args, hi)
			q += fmt.Sprintf(" AND k < $%d", len(args))
		}
		q += ` ORDER BY host, k LIMIT ` + limit
		var out []driftRow
		err := t.rows(q, args, func(r pgx.Rows) error {
			var d driftRow
			if err := r.Scan(&d.host, &d.k, &d.v); err != nil {
				return err
			}
			out = append(out, d)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("list drift items: %w", err)
		}
		return out, nil
	}, func(d driftRow) error {
		item, err := decodeDrift(string(d.host), d.v)
		if err != nil {
			return err
		}
		return fn(item)
	}, func(a, b *driftRow) bool {
		c := bytes.Compare(a.host, b.host)
		return c < 0 || c == 0 && bytes.Compare(a.k, b.k) < 0
	})
}

func (t *pgTx) OpenDriftCounts(host string) (*plumbv1.OpenDriftCounts, error) {
	c := &plumbv1.OpenDriftCounts{}
	err := t.rows(`SELECT k, severity FROM plumb_drift WHERE host = $1 AND open ORDER BY k`, []any{[]byte(host)},
		func(r pgx.Rows) error {
			var k []byte
			var sev int32
			if err := r.Scan(&k, &sev); err != nil {
				return err
			}
			key, err := fact.DecodeKey(k)
			if err != nil {
				return fmt.Errorf("drift item of host %q: %w", host, err)
			}
			switch {
			case key.Kind == plumbv1.FactKind_FACT_KIND_HEALTH:
				c.Health++
				c.HealthKeys = append(c.HealthKeys, fact.Display([]byte(key.ID)))
			case plumbv1.Severity(sev) == plumbv1.Severity_SEVERITY_CRITICAL:
				c.Critical++
			case plumbv1.Severity(sev) == plumbv1.Severity_SEVERITY_WARNING:
				c.Warning++
			default:
				c.Info++
			}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("count drift of host %q: %w", host, err)
	}
	return c, nil
}
