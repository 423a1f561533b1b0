package silence

import (
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
)

// ToProto is the API form of a stored silence, its state as of now.
func ToProto(s *store.Silence, now time.Time) *plumbv1.Silence {
	return &plumbv1.Silence{
		State: stateAt(s, now.UnixNano()),
		Id:    s.ID,
		Matcher: &plumbv1.SilenceMatcher{
			Hosts: s.Hosts, Labels: s.Labels, Kind: kindOf(s.Kind), Key: s.Key,
		},
		StartsAtUnixNano: s.StartsAt, EndsAtUnixNano: s.EndsAt,
		Reason: s.Reason, CreatedBy: s.CreatedBy, CreatedAtUnixNano: s.CreatedAt,
		ExpiredBy: s.ExpiredBy, ExpiredAtUnixNano: s.ExpiredAt,
		Summarized: s.Summarized, Window: s.Window,
	}
}

func stateAt(s *store.Silence, now int64) plumbv1.SilenceState {
	switch {
	case now < s.StartsAt:
		return plumbv1.SilenceState_SILENCE_STATE_PENDING
	case now < s.End():
		return plumbv1.SilenceState_SILENCE_STATE_ACTIVE
	case s.ExpiredAt != 0 && s.ExpiredAt < s.EndsAt:
		return plumbv1.SilenceState_SILENCE_STATE_EXPIRED
	}
	return plumbv1.SilenceState_SILENCE_STATE_ENDED
}
