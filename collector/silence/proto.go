package silence

import (
	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
)

// ToProto is the API form of a stored silence.
func ToProto(s *store.Silence) *plumbv1.Silence {
	return &plumbv1.Silence{
		Id: s.ID,
		Matcher: &plumbv1.SilenceMatcher{
			Hosts: s.Hosts, Labels: s.Labels, Kind: kindOf(s.Kind), Key: s.Key,
		},
		StartsAtUnixNano: s.StartsAt, EndsAtUnixNano: s.EndsAt,
		Reason: s.Reason, CreatedBy: s.CreatedBy, CreatedAtUnixNano: s.CreatedAt,
		ExpiredBy: s.ExpiredBy, ExpiredAtUnixNano: s.ExpiredAt,
		Summarized: s.Summarized, Window: s.Window,
	}
}
