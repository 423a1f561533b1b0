package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// AuditRecord is one operator action that is not a drift transition
// (those are in the event log): a silence created or expired, a baseline
// promoted, a policy applied. It is written in the transaction of the
// action it records, so an action and its record commit together.
type AuditRecord struct {
	// Seq is the record's position in the audit log, assigned by
	// AppendAudit: collector-wide, strictly increasing.
	Seq uint64 `json:"seq"`
	// At is the collector clock of the action, unix nano.
	At int64 `json:"at_unix_nano"`
	// Actor is the identity of the caller's token, never a name the
	// client chose.
	Actor string `json:"actor"`
	// Action names what was done, "<object>.<verb>": "silence.create",
	// "silence.expire", "baseline.promote", "policy.apply".
	Action string `json:"action"`
	// Host is the host the action is about, "" for a fleet-wide one.
	Host string `json:"host,omitempty"`
	// Target names the object acted on (a silence id, a group, a policy
	// version).
	Target string `json:"target,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Audit appends an audit record of an action done in tx, at now. It is
// the one seam through which every non-drift action is audited.
func Audit(tx Tx, now time.Time, actor, action, host, target, reason string) error {
	if actor == "" || action == "" {
		return errors.New("audit: actor and action are required")
	}
	return tx.AppendAudit(&AuditRecord{
		At: now.UnixNano(), Actor: actor, Action: action, Host: host, Target: target, Reason: reason,
	})
}

func (t *boltTx) AppendAudit(r *AuditRecord) error {
	b := t.tx.Bucket(bucketAudit)
	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	r.Seq = seq
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode audit %s: %w", r.Action, err)
	}
	if err := b.Put(be64(seq), v); err != nil {
		return fmt.Errorf("append audit %s: %w", r.Action, err)
	}
	return nil
}

func (t *boltTx) AuditAfter(after uint64, limit int) ([]*AuditRecord, error) {
	if after == ^uint64(0) || limit <= 0 {
		return nil, nil
	}
	var out []*AuditRecord
	c := t.tx.Bucket(bucketAudit).Cursor()
	for k, v := c.Seek(be64(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
		r := &AuditRecord{}
		if err := json.Unmarshal(v, r); err != nil {
			return nil, fmt.Errorf("decode audit %d: %w", binary.BigEndian.Uint64(k), err)
		}
		out = append(out, r)
	}
	return out, nil
}

// pruneAudit deletes up to limit audit records older than cutoff from the
// start of the log. more reports that it stopped at the limit.
func pruneAudit(tx *bolt.Tx, cutoff int64, limit int) (n int, more bool, err error) {
	c := tx.Bucket(bucketAudit).Cursor()
	for k, v := c.First(); k != nil; k, v = c.First() {
		if n == limit {
			return n, true, nil
		}
		r := &AuditRecord{}
		if err := json.Unmarshal(v, r); err != nil {
			return n, false, fmt.Errorf("decode audit %d: %w", binary.BigEndian.Uint64(k), err)
		}
		if r.At >= cutoff {
			return n, false, nil
		}
		if err := c.Delete(); err != nil {
			return n, false, err
		}
		n++
	}
	return n, false, nil
}
