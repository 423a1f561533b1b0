package factjson

import (
	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// SilenceSummary is the JSON view of what a silence held back, in the
// event sent when it ends (type "silence.ended").
type SilenceSummary struct {
	SilenceID string `json:"silence_id"`
	// Window names the maintenance window of an occurrence.
	Window    string `json:"window,omitempty"`
	Reason    string `json:"reason"`
	CreatedBy string `json:"created_by"`
	ExpiredBy string `json:"expired_by,omitempty"`
	StartsAt  string `json:"starts_at"`
	// EndedAt is when it stopped holding drift back: its end, or its
	// expiry.
	EndedAt   string             `json:"ended_at"`
	Events    uint64             `json:"events"`
	Items     uint64             `json:"items"`
	Hosts     []SilenceHostCount `json:"hosts"`
	Held      []SilencedItem     `json:"held"`
	Truncated bool               `json:"truncated,omitempty"`
}

// SilenceHostCount is a host and how many of its events were held back.
type SilenceHostCount struct {
	Host   string `json:"host"`
	Events uint64 `json:"events"`
}

// SilencedItem is one held-back drift item.
type SilencedItem struct {
	ItemID    string `json:"item_id"`
	Host      string `json:"host"`
	Kind      string `json:"kind"`
	Key       string `json:"key"`
	Severity  string `json:"severity,omitempty"`
	LastEvent string `json:"last_event"`
	Events    uint64 `json:"events"`
}

// FromSilenceSummary renders s; nil for nil.
func FromSilenceSummary(s *plumbv1.SilenceSummary) *SilenceSummary {
	if s == nil {
		return nil
	}
	sil := s.GetSilence()
	ended := sil.GetEndsAtUnixNano()
	if e := sil.GetExpiredAtUnixNano(); e != 0 && e < ended {
		ended = e
	}
	out := &SilenceSummary{
		SilenceID: sil.GetId(), Window: sil.GetWindow(), Reason: sil.GetReason(),
		CreatedBy: sil.GetCreatedBy(), ExpiredBy: sil.GetExpiredBy(),
		StartsAt: Time(sil.GetStartsAtUnixNano()), EndedAt: Time(ended),
		Events: s.GetEvents(), Items: s.GetItems(), Truncated: s.GetTruncated(),
		Hosts: []SilenceHostCount{}, Held: []SilencedItem{},
	}
	for _, h := range s.GetHosts() {
		out.Hosts = append(out.Hosts, SilenceHostCount{Host: h.GetHostId(), Events: h.GetEvents()})
	}
	for _, it := range s.GetHeld() {
		out.Held = append(out.Held, SilencedItem{
			ItemID: it.GetId(), Host: it.GetHostId(), Kind: fact.KindName(it.GetKind()), Key: fact.Display(it.GetKey()),
			Severity: Severity(it.GetSeverity()), LastEvent: EventType(it.GetLastEventType()), Events: it.GetEvents(),
		})
	}
	return out
}

// silenceEventType is the public type of a silence's summary event.
func silenceEventType(t plumbv1.DriftEventType) (string, bool) {
	if t == plumbv1.DriftEventType_DRIFT_EVENT_TYPE_SILENCE_ENDED {
		return "silence.ended", true
	}
	return "", false
}
