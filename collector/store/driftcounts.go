package store

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// Field numbers of plumbv1.DriftItem that OpenDriftCounts reads.
const (
	driftItemKind     = 3
	driftItemKey      = 4
	driftItemStatus   = 6
	driftItemSeverity = 14
)

func (t *boltTx) OpenDriftCounts(host string) (*plumbv1.OpenDriftCounts, error) {
	c := &plumbv1.OpenDriftCounts{}
	err := t.scan(host, bucketDrift, plumbv1.FactKind_FACT_KIND_UNSPECIFIED, func(v []byte) error {
		s, err := scanDriftItem(v)
		if err != nil {
			return fmt.Errorf("decode drift item of host %q: %w", host, err)
		}
		if s.status != plumbv1.DriftStatus_DRIFT_STATUS_OPEN {
			return nil
		}
		switch {
		case s.kind == plumbv1.FactKind_FACT_KIND_HEALTH:
			c.Health++
			c.HealthKeys = append(c.HealthKeys, fact.Display(s.key))
		case s.severity == plumbv1.Severity_SEVERITY_CRITICAL:
			c.Critical++
		case s.severity == plumbv1.Severity_SEVERITY_WARNING:
			c.Warning++
		default:
			c.Info++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// driftSummary is what OpenDriftCounts needs of a stored drift item.
type driftSummary struct {
	kind     plumbv1.FactKind
	key      []byte
	status   plumbv1.DriftStatus
	severity plumbv1.Severity
}

// scanDriftItem reads a marshalled DriftItem's kind, key, status and
// severity and skips the rest (its baseline and current facts, the bulk
// of it), so counting a fleet's drift costs a field walk per item rather
// than an unmarshal. The key aliases v; the last occurrence of a field
// wins, as in proto.Unmarshal.
func scanDriftItem(v []byte) (driftSummary, error) {
	var s driftSummary
	for len(v) > 0 {
		num, typ, n := protowire.ConsumeTag(v)
		if n < 0 {
			return s, protowire.ParseError(n)
		}
		v = v[n:]
		switch {
		case typ == protowire.VarintType && (num == driftItemKind || num == driftItemStatus || num == driftItemSeverity):
			x, n := protowire.ConsumeVarint(v)
			if n < 0 {
				return s, protowire.ParseError(n)
			}
			v = v[n:]
			switch num {
			case driftItemKind:
				s.kind = plumbv1.FactKind(int32(x))
			case driftItemStatus:
				s.status = plumbv1.DriftStatus(int32(x))
			case driftItemSeverity:
				s.severity = plumbv1.Severity(int32(x))
			}
		case typ == protowire.BytesType && num == driftItemKey:
			b, n := protowire.ConsumeBytes(v)
			if n < 0 {
				return s, protowire.ParseError(n)
			}
			v = v[n:]
			s.key = b
		default:
			n := protowire.ConsumeFieldValue(num, typ, v)
			if n < 0 {
				return s, protowire.ParseError(n)
			}
			v = v[n:]
		}
	}
	return s, nil
}
