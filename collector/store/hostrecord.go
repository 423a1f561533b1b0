package store

import (
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// hostRecord is the stored form of Host minus its set digest, which is
// kept as raw bytes beside it (keyHostDigest). JSON keeps the record
// readable in a bbolt dump; the proto parts use protojson.
type hostRecord struct {
	ID            string            `json:"id"`
	Info          json.RawMessage   `json:"info,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	AppliedSeq    uint64            `json:"applied_seq"`
	Resyncs       uint64            `json:"resyncs"`
	HealthChanges uint64            `json:"health_changes,omitempty"`
	FactCount     uint64            `json:"fact_count"`
	HasBaseline   bool              `json:"has_baseline"`
	OpenDrift     uint64            `json:"open_drift"`
	LastSeen      int64             `json:"last_seen_unix_nano"`
	Coverage      []json.RawMessage `json:"coverage,omitempty"`
}

func encodeHost(h *Host) (record, digest []byte, err error) {
	r := hostRecord{
		ID:            h.ID,
		Labels:        h.Labels,
		AppliedSeq:    h.AppliedSeq,
		Resyncs:       h.Resyncs,
		HealthChanges: h.HealthChanges,
		FactCount:     h.FactCount,
		HasBaseline:   h.HasBaseline,
		OpenDrift:     h.OpenDrift,
		LastSeen:      h.LastSeen,
	}
	if h.Info != nil {
		if r.Info, err = protojson.Marshal(h.Info); err != nil {
			return nil, nil, fmt.Errorf("encode host %q info: %w", h.ID, err)
		}
	}
	for _, c := range h.Coverage {
		b, err := protojson.Marshal(c)
		if err != nil {
			return nil, nil, fmt.Errorf("encode host %q coverage: %w", h.ID, err)
		}
		r.Coverage = append(r.Coverage, b)
	}
	if record, err = json.Marshal(r); err != nil {
		return nil, nil, fmt.Errorf("encode host %q: %w", h.ID, err)
	}
	if digest, err = h.Digest.MarshalBinary(); err != nil {
		return nil, nil, fmt.Errorf("encode host %q digest: %w", h.ID, err)
	}
	return record, digest, nil
}

func decodeHost(record, digest []byte) (*Host, error) {
	var r hostRecord
	if err := json.Unmarshal(record, &r); err != nil {
		return nil, fmt.Errorf("decode host record: %w", err)
	}
	h := &Host{
		ID:            r.ID,
		Labels:        r.Labels,
		AppliedSeq:    r.AppliedSeq,
		Resyncs:       r.Resyncs,
		HealthChanges: r.HealthChanges,
		FactCount:     r.FactCount,
		HasBaseline:   r.HasBaseline,
		OpenDrift:     r.OpenDrift,
		LastSeen:      r.LastSeen,
	}
	if len(r.Info) > 0 {
		h.Info = &plumbv1.HostInfo{}
		if err := protojson.Unmarshal(r.Info, h.Info); err != nil {
			return nil, fmt.Errorf("decode host %q info: %w", r.ID, err)
		}
	}
	for _, b := range r.Coverage {
		c := &plumbv1.CoverageCondition{}
		if err := protojson.Unmarshal(b, c); err != nil {
			return nil, fmt.Errorf("decode host %q coverage: %w", r.ID, err)
		}
		h.Coverage = append(h.Coverage, c)
	}
	if len(digest) > 0 {
		if err := h.Digest.UnmarshalBinary(digest); err != nil {
			return nil, fmt.Errorf("decode host %q: %w", r.ID, err)
		}
	}
	return h, nil
}

// MarshalHost returns the stored form of h: its record (JSON, as the bbolt
// backend keeps it) and its set digest's binary form. Other backends store
// hosts the same way.
func MarshalHost(h *Host) (record, digest []byte, err error) { return encodeHost(h) }

// UnmarshalHost is the inverse of MarshalHost. Both parts are checked:
// a damaged record or digest is an error, never a panic.
func UnmarshalHost(record, digest []byte) (*Host, error) { return decodeHost(record, digest) }
