package postgres

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/plumb-dev/plumb/collector/store"
)

// Kinds of plumb_records rows, named as the bbolt backend's buckets.
const (
	recJoinTokens     = "join_tokens"
	recAPITokens      = "api_tokens"
	recIdentities     = "identities"
	recSilences       = "silences"
	recGroupBaselines = "group_baselines"
	recPolicies       = "policies"
	recLeases         = "leases"
	recSecrets        = "secrets"
)

func (t *pgTx) rawRecord(kind string, id []byte) ([]byte, error) {
	var v []byte
	err := t.one(func() error { return fmt.Errorf("%s %q: %w", kind, id, store.ErrNotFound) },
		`SELECT v FROM plumb_records WHERE kind = $1 AND id = $2`, []any{kind, id}, &v)
	return v, err
}

func (t *pgTx) getRecord(kind, id string, v any) error {
	raw, err := t.rawRecord(kind, []byte(id))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode %s %q: %w", kind, id, err)
	}
	return nil
}

func (t *pgTx) putRaw(kind string, id, v []byte) error {
	return t.exec(fmt.Sprintf("put %s %q", kind, id),
		`INSERT INTO plumb_records (kind, id, v) VALUES ($1, $2, $3) ON CONFLICT (kind, id) DO UPDATE SET v = EXCLUDED.v`,
		kind, id, v)
}

func (t *pgTx) putRecord(kind, id string, v any) error {
	if id == "" {
		return fmt.Errorf("put %s: empty id", kind)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s %q: %w", kind, id, err)
	}
	return t.putRaw(kind, []byte(id), raw)
}

func (t *pgTx) deleteRecord(kind string, id []byte) error {
	return t.exec(fmt.Sprintf("delete %s %q", kind, id), `DELETE FROM plumb_records WHERE kind = $1 AND id = $2`, kind, id)
}

// recordsAfter calls fn with each record of kind in id order after id
// after ("": from the first), or in reverse order below before when desc
// (nil: from the last).
func (t *pgTx) recordsAfter(kind string, after []byte, desc bool, fn func(id, v []byte) error) error {
	return pages(func(last *kv) ([]kv, error) {
		from := after
		if last != nil {
			from = last.k
		}
		q := `SELECT id, v FROM plumb_records WHERE kind = $1 AND id > $2 ORDER BY id LIMIT ` + limit
		args := []any{kind, from}
		if desc {
			q = `SELECT id, v FROM plumb_records WHERE kind = $1 ORDER BY id DESC LIMIT ` + limit
			args = []any{kind}
			if from != nil {
				q = `SELECT id, v FROM plumb_records WHERE kind = $1 AND id < $2 ORDER BY id DESC LIMIT ` + limit
				args = []any{kind, from}
			}
		} else if from == nil {
			args[1] = []byte{}
		}
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
			return nil, fmt.Errorf("list %s: %w", kind, err)
		}
		return out, nil
	}, func(e kv) error { return fn(e.k, e.v) }, func(a, b *kv) bool {
		if desc {
			return bytes.Compare(a.k, b.k) > 0
		}
		return bytes.Compare(a.k, b.k) < 0
	})
}

func forRecords[T any](t *pgTx, kind string, after string, fn func(*T) error) error {
	return t.recordsAfter(kind, []byte(after), false, func(id, raw []byte) error {
		v := new(T)
		if err := json.Unmarshal(raw, v); err != nil {
			return fmt.Errorf("decode %q: %w", id, err)
		}
		return fn(v)
	})
}

func (t *pgTx) JoinToken(id string) (*store.JoinToken, error) {
	v := &store.JoinToken{}
	if err := t.getRecord(recJoinTokens, id, v); err != nil {
		return nil, err
	}
	return v, nil
}

func (t *pgTx) JoinTokens(fn func(*store.JoinToken) error) error {
	return forRecords(t, recJoinTokens, "", fn)
}

func (t *pgTx) PutJoinToken(v *store.JoinToken) error { return t.putRecord(recJoinTokens, v.ID, v) }

func (t *pgTx) DeleteJoinToken(id string) error { return t.deleteRecord(recJoinTokens, []byte(id)) }

func (t *pgTx) APIToken(id string) (*store.APIToken, error) {
	v := &store.APIToken{}
	if err := t.getRecord(recAPITokens, id, v); err != nil {
		return nil, err
	}
	return v, nil
}

func (t *pgTx) APITokens(fn func(*store.APIToken) error) error {
	return forRecords(t, recAPITokens, "", fn)
}

func (t *pgTx) APITokensAfter(after string, fn func(*store.APIToken) error) error {
	return forRecords(t, recAPITokens, after, fn)
}

func (t *pgTx) PutAPIToken(v *store.APIToken) error { return t.putRecord(recAPITokens, v.ID, v) }

func (t *pgTx) DeleteAPIToken(id string) error { return t.deleteRecord(recAPITokens, []byte(id)) }

func (t *pgTx) Identity(host string) (*store.Identity, error) {
	v := &store.Identity{}
	if err := t.getRecord(recIdentities, host, v); err != nil {
		return nil, err
	}
	return v, nil
}

func (t *pgTx) Identities(fn func(*store.Identity) error) error {
	return forRecords(t, recIdentities, "", fn)
}

func (t *pgTx) PutIdentity(v *store.Identity) error { return t.putRecord(recIdentities, v.HostID, v) }

func (t *pgTx) Silence(id string) (*store.Silence, error) {
	v := &store.Silence{}
	if err := t.getRecord(recSilences, id, v); err != nil {
		return nil, err
	}
	return v, nil
}

func (t *pgTx) Silences(fn func(*store.Silence) error) error {
	return forRecords(t, recSilences, "", fn)
}

func (t *pgTx) PutSilence(v *store.Silence) error { return t.putRecord(recSilences, v.ID, v) }

func (t *pgTx) DeleteSilence(id string) error { return t.deleteRecord(recSilences, []byte(id)) }

func policyKey(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func decodePolicy(id, raw []byte) (*store.Policy, error) {
	p := &store.Policy{}
	if err := json.Unmarshal(raw, p); err != nil {
		return nil, fmt.Errorf("decode policy %x: %w", id, err)
	}
	return p, nil
}

func (t *pgTx) Policy(version uint64) (*store.Policy, error) {
	raw, err := t.rawRecord(recPolicies, policyKey(version))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("policy version %d: %w", version, store.ErrNotFound)
	} else if err != nil {
		return nil, err
	}
	return decodePolicy(policyKey(version), raw)
}

func (t *pgTx) LatestPolicy() (*store.Policy, error) {
	var id, raw []byte
	err := t.one(func() error { return fmt.Errorf("policy: %w", store.ErrNotFound) },
		`SELECT id, v FROM plumb_records WHERE kind = $1 ORDER BY id DESC LIMIT 1`, []any{recPolicies}, &id, &raw)
	if err != nil {
		return nil, err
	}
	return decodePolicy(id, raw)
}

func (t *pgTx) PoliciesBefore(before uint64, fn func(*store.Policy) error) error {
	var from []byte
	if before != 0 {
		from = policyKey(before)
	}
	return t.recordsAfter(recPolicies, from, true, func(id, raw []byte) error {
		p, err := decodePolicy(id, raw)
		if err != nil {
			return err
		}
		return fn(p)
	})
}

func (t *pgTx) PutPolicy(p *store.Policy) error {
	if p.Version == 0 {
		return fmt.Errorf("put policy: version 0")
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode policy %d: %w", p.Version, err)
	}
	return t.putRaw(recPolicies, policyKey(p.Version), raw)
}

func (t *pgTx) Lease(name string) (*store.Lease, error) {
	l := &store.Lease{}
	raw, err := t.rawRecord(recLeases, []byte(name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("lease %q: %w", name, store.ErrNotFound)
	} else if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, l); err != nil {
		return nil, fmt.Errorf("decode lease %q: %w", name, err)
	}
	return l, nil
}

// ClaimLease reads, checks and writes under the writer lock that this
// Update holds, so two collectors claiming at once cannot both win.
func (t *pgTx) ClaimLease(name, holder string, now, until int64) (bool, error) {
	if name == "" || holder == "" {
		return false, fmt.Errorf("lease: empty name or holder")
	}
	if err := t.mustWrite("claim lease"); err != nil {
		return false, err
	}
	cur, err := t.Lease(name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	if cur != nil && cur.Holder != holder && cur.Until > now {
		return false, nil
	}
	if err := t.putRecord(recLeases, name, &store.Lease{Name: name, Holder: holder, Until: until}); err != nil {
		return false, err
	}
	return true, nil
}

func (t *pgTx) ReleaseLease(name, holder string) error {
	cur, err := t.Lease(name)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if cur.Holder != holder {
		return nil
	}
	return t.deleteRecord(recLeases, []byte(name))
}

func (t *pgTx) Secret(name string) ([]byte, error) {
	raw, err := t.rawRecord(recSecrets, []byte(name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("secret %q: %w", name, store.ErrNotFound)
	}
	return raw, err
}

func (t *pgTx) PutSecret(name string, value []byte) error {
	if name == "" {
		return fmt.Errorf("secret: empty name")
	}
	if value == nil {
		value = []byte{}
	}
	return t.putRaw(recSecrets, []byte(name), value)
}
