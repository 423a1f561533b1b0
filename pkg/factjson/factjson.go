// Package factjson owns the JSON view of facts, drift items and drift
// events that people and scripts read: webhook bodies, `plumbctl -o json`
// and the HTTP API. Unlike protojson it shows keys and link targets as
// readable text (fact.Display: reversible escapes for bytes that are not
// UTF-8, never base64), digests as hex, modes in octal and times in
// RFC 3339.
package factjson

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// Fact is the JSON view of one fact.
type Fact struct {
	Kind       string         `json:"kind"`
	Key        string         `json:"key"`
	Digest     string         `json:"digest"`
	Attributes map[string]any `json:"attributes"`
	ObservedAt string         `json:"observed_at,omitempty"`
}

// FromFact renders f; nil gives nil.
func FromFact(f *plumbv1.Fact) *Fact {
	if f == nil {
		return nil
	}
	return &Fact{
		Kind:       fact.KindName(f.GetKind()),
		Key:        fact.Display(f.GetKey()),
		Digest:     hex.EncodeToString(f.GetDigest()),
		Attributes: Attributes(f),
		ObservedAt: Time(f.GetObservedUnixNano()),
	}
}

// Attributes returns f's typed attributes as a flat map.
func Attributes(f *plumbv1.Fact) map[string]any {
	m := map[string]any{}
	switch a := f.GetAttrs().(type) {
	case *plumbv1.Fact_File:
		fa := a.File
		m["type"] = FileType(fa.GetType())
		m["mode"] = fmt.Sprintf("%04o", fa.GetMode())
		m["uid"] = fa.GetUid()
		m["gid"] = fa.GetGid()
		switch fa.GetType() {
		case plumbv1.FileType_FILE_TYPE_REGULAR:
			m["size"] = fa.GetSize()
			m["sha256"] = hex.EncodeToString(fa.GetSha256())
		case plumbv1.FileType_FILE_TYPE_SYMLINK:
			m["link_target"] = fact.Display(fa.GetLinkTarget())
		}
		if t := fa.GetMtimeUnixNano(); t != 0 {
			m["mtime"] = Time(t)
		}
	case *plumbv1.Fact_Package:
		m["version"] = a.Package.GetVersion()
		m["arch"] = a.Package.GetArch()
		m["manager"] = a.Package.GetManager()
	case *plumbv1.Fact_Conffile:
		m["package"] = a.Conffile.GetPackage()
		m["manager"] = a.Conffile.GetManager()
		m["algorithm"] = a.Conffile.GetAlgorithm()
		m["digest"] = hex.EncodeToString(a.Conffile.GetDigest())
		m["present"] = a.Conffile.GetPresent()
		m["matches"] = a.Conffile.GetMatches()
	case *plumbv1.Fact_Value:
		m["value"] = a.Value.GetValue()
	case *plumbv1.Fact_Kmod:
		m["size"] = a.Kmod.GetSize()
	}
	return m
}

// FileType returns the short name of t: "regular", "directory", "symlink"...
func FileType(t plumbv1.FileType) string {
	return strings.ToLower(strings.TrimPrefix(t.String(), "FILE_TYPE_"))
}

// Time renders unix nanoseconds as RFC 3339 UTC; zero gives "".
func Time(ns int64) string {
	if ns == 0 {
		return ""
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

// DriftItem is the JSON view of a drift item.
type DriftItem struct {
	ID         string `json:"id"`
	Host       string `json:"host"`
	Kind       string `json:"kind"`
	Key        string `json:"key"`
	Change     string `json:"change"`
	Status     string `json:"status"`
	Severity   string `json:"severity"`
	Baseline   *Fact  `json:"baseline"`
	Current    *Fact  `json:"current"`
	ObservedAt string `json:"observed_at"`
	DetectedAt string `json:"detected_at"`
	UpdatedAt  string `json:"updated_at,omitempty"`
	AcceptedBy string `json:"accepted_by,omitempty"`
	Reason     string `json:"reason,omitempty"`
	// BaselineGroup names the group whose golden baseline the item
	// compares with; ExceptionToGroup is set on an accepted one: the
	// host's exception to that group's baseline.
	BaselineGroup    string `json:"baseline_group,omitempty"`
	ExceptionToGroup string `json:"exception_to_group,omitempty"`
}

// FromDriftItem renders it.
func FromDriftItem(it *plumbv1.DriftItem) *DriftItem {
	return &DriftItem{
		ID:         it.GetId(),
		Host:       it.GetHostId(),
		Kind:       fact.KindName(it.GetKind()),
		Key:        fact.Display(it.GetKey()),
		Change:     Change(it.GetChange()),
		Status:     Status(it.GetStatus()),
		Severity:   Severity(it.GetSeverity()),
		Baseline:   FromFact(it.GetBaseline()),
		Current:    FromFact(it.GetCurrent()),
		ObservedAt: Time(it.GetObservedUnixNano()),
		DetectedAt: Time(it.GetDetectedUnixNano()),
		UpdatedAt:  Time(it.GetUpdatedUnixNano()),
		AcceptedBy: it.GetAcceptedBy(),
		Reason:     it.GetReason(),

		BaselineGroup:    it.GetBaselineGroup(),
		ExceptionToGroup: exceptionTo(it),
	}
}

func exceptionTo(it *plumbv1.DriftItem) string {
	if it.GetStatus() != plumbv1.DriftStatus_DRIFT_STATUS_ACCEPTED {
		return ""
	}
	return it.GetBaselineGroup()
}

// Change returns "added", "modified" or "removed".
func Change(c plumbv1.DriftChange) string {
	return strings.ToLower(strings.TrimPrefix(c.String(), "DRIFT_CHANGE_"))
}

// Severity returns "info", "warning" or "critical" ("" if unspecified).
func Severity(s plumbv1.Severity) string {
	if s == plumbv1.Severity_SEVERITY_UNSPECIFIED {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(s.String(), "SEVERITY_"))
}

// Status returns "open", "resolved" or "accepted".
func Status(s plumbv1.DriftStatus) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "DRIFT_STATUS_"))
}

// EventType returns the event's public type name: "drift.opened",
// "drift.resolved", "drift.accepted" or "drift.updated", or
// "silence.ended" for a silence's summary.
func EventType(t plumbv1.DriftEventType) string {
	if s, ok := silenceEventType(t); ok {
		return s
	}
	return "drift." + strings.ToLower(strings.TrimPrefix(t.String(), "DRIFT_EVENT_TYPE_"))
}

// Event is the JSON view of a drift event: the body of a generic webhook.
// The item's fields are flattened to the top level so that a receiver
// reads event.host, event.key, event.change directly.
type Event struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Seq    uint64 `json:"seq"`
	At     string `json:"at"`
	ItemID string `json:"item_id"`
	DriftItem
	PackageChange *PackageChange `json:"package_change,omitempty"`
	// Silence is set on "silence.ended" events only: what the silence
	// held back.
	Silence *SilenceSummary `json:"silence_summary,omitempty"`
}

// FromEvent renders ev.
func FromEvent(ev *plumbv1.DriftEvent) *Event {
	it := FromDriftItem(ev.GetItem())
	out := &Event{
		ID:            ev.GetId(),
		Type:          EventType(ev.GetType()),
		Seq:           ev.GetSeq(),
		At:            Time(ev.GetAtUnixNano()),
		ItemID:        it.ID,
		DriftItem:     *it,
		PackageChange: FromPackageChange(ev.GetPackageChange()),
		Silence:       FromSilenceSummary(ev.GetSilenceSummary()),
	}
	return out
}

// Content is the JSON view of a file change's content (FileAttrs.content).
type Content struct {
	// State is "diff", "first", "too_large", "binary", or "not_kept" when
	// the agent kept no content of the file (not opted in, not readable
	// by all, or not a file).
	State string `json:"state"`
	// Diff is the unified diff (state "diff"), secret values redacted.
	Diff     string `json:"diff,omitempty"`
	Redacted bool   `json:"redacted"`
}

// FromContent renders c; nil gives state "not_kept".
func FromContent(c *plumbv1.ContentChange) *Content {
	if c.GetState() == plumbv1.ContentState_CONTENT_STATE_UNSPECIFIED {
		return &Content{State: "not_kept"}
	}
	return &Content{
		State:    strings.ToLower(strings.TrimPrefix(c.GetState().String(), "CONTENT_STATE_")),
		Diff:     c.GetUnifiedDiff(),
		Redacted: c.GetRedacted(),
	}
}
