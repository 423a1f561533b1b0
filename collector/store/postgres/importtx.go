package postgres

import (
	"fmt"
	"math"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
)

// ImportEvent implements store.ImportTx: the event keeps its seq, and the
// counter moves past it.
func (t *pgTx) ImportEvent(ev *plumbv1.DriftEvent) error {
	if err := t.mustWrite("import event"); err != nil {
		return err
	}
	if ev.GetSeq() == 0 || ev.GetSeq() > math.MaxInt64 {
		return fmt.Errorf("import event %s: seq %d out of range", ev.GetId(), ev.GetSeq())
	}
	if err := t.insertEvent(ev); err != nil {
		return err
	}
	t.eventSeq = max(t.eventSeq, ev.GetSeq())
	return nil
}

// ImportAudit implements store.ImportTx.
func (t *pgTx) ImportAudit(r *store.AuditRecord) error {
	if err := t.mustWrite("import audit"); err != nil {
		return err
	}
	if r.Seq == 0 || r.Seq > math.MaxInt64 {
		return fmt.Errorf("import audit %s: seq %d out of range", r.Action, r.Seq)
	}
	if err := t.insertAudit(r); err != nil {
		return err
	}
	t.auditSeq = max(t.auditSeq, r.Seq)
	return nil
}

// SetSequences implements store.ImportTx.
func (t *pgTx) SetSequences(event, audit uint64) error {
	if err := t.mustWrite("set sequences"); err != nil {
		return err
	}
	if event > math.MaxInt64 || audit > math.MaxInt64 {
		return fmt.Errorf("set sequences: %d, %d out of range", event, audit)
	}
	t.eventSeq = max(t.eventSeq, event)
	t.auditSeq = max(t.auditSeq, audit)
	return nil
}
