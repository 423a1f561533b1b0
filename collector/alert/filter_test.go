package alert

import (
	"context"
	"errors"
	"testing"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// scripted records what it is handed and fails as told.
type scripted struct {
	got      [][]string
	fail     error
	retry    bool
	partialN int // with fail: deliver this many, then fail
}

func (s *scripted) Name() string { return "scripted" }

func (s *scripted) Notify(_ context.Context, evs []*plumbv1.DriftEvent) (bool, error) {
	var keys []string
	for _, ev := range evs {
		keys = append(keys, string(ev.GetItem().GetKey()))
	}
	s.got = append(s.got, keys)
	if s.fail == nil {
		return false, nil
	}
	if s.partialN > 0 {
		return s.retry, &PartialError{Delivered: s.partialN, Err: s.fail}
	}
	return s.retry, s.fail
}

func ev(host, key string, kind plumbv1.FactKind, sev plumbv1.Severity) *plumbv1.DriftEvent {
	return &plumbv1.DriftEvent{Item: &plumbv1.DriftItem{HostId: host, Kind: kind, Key: []byte(key), Severity: sev}}
}

func TestFilterPassesAndMapsPartialDelivery(t *testing.T) {
	const file = plumbv1.FactKind_FACT_KIND_FILE
	f, err := parseFilter(FilterConfig{MinSeverity: "warning", Hosts: []string{"web-*"}, Kinds: []string{"file"}, Keys: []string{"/etc/**"}})
	if err != nil {
		t.Fatal(err)
	}
	events := []*plumbv1.DriftEvent{
		ev("web-1", "/etc/a", file, plumbv1.Severity_SEVERITY_INFO),                                    // 0: too mild
		ev("web-1", "/etc/b", file, plumbv1.Severity_SEVERITY_CRITICAL),                                // 1: passes
		ev("db-1", "/etc/c", file, plumbv1.Severity_SEVERITY_CRITICAL),                                 // 2: other host
		ev("web-2", "/srv/d", file, plumbv1.Severity_SEVERITY_CRITICAL),                                // 3: other key
		ev("web-2", "/etc/e", plumbv1.FactKind_FACT_KIND_CONFFILE, plumbv1.Severity_SEVERITY_CRITICAL), // 4: other kind
		ev("web-2", "/etc/f", file, plumbv1.Severity_SEVERITY_WARNING),                                 // 5: passes
		ev("web-2", "/etc/g", file, plumbv1.Severity_SEVERITY_INFO),                                    // 6: too mild
	}
	s := &scripted{}
	n := &filtered{Notifier: s, f: f}
	if _, err := n.Notify(context.Background(), events); err != nil {
		t.Fatal(err)
	}
	if len(s.got) != 1 || len(s.got[0]) != 2 || s.got[0][0] != "/etc/b" || s.got[0][1] != "/etc/f" {
		t.Fatalf("handed on %v, want [/etc/b /etc/f]", s.got)
	}

	// The second passing event (events[5]) fails: events[0..4] are done.
	s = &scripted{fail: errors.New("boom"), partialN: 1}
	_, err = (&filtered{Notifier: s, f: f}).Notify(context.Background(), events)
	var pe *PartialError
	if !errors.As(err, &pe) || pe.Delivered != 5 {
		t.Fatalf("partial failure mapped to %v, want Delivered 5", err)
	}
	// The first passing event fails outright: events[0] (filtered out) is
	// done, the rest are not.
	s = &scripted{fail: errors.New("down"), retry: true}
	retry, err := (&filtered{Notifier: s, f: f}).Notify(context.Background(), events)
	if !errors.As(err, &pe) || pe.Delivered != 1 || !retry {
		t.Fatalf("failure mapped to %v (retry %v), want Delivered 1, retryable", err, retry)
	}
	// Nothing passes: nothing is sent, all are done.
	s = &scripted{fail: errors.New("must not be called")}
	if _, err := (&filtered{Notifier: s, f: f}).Notify(context.Background(), events[2:5]); err != nil || len(s.got) != 0 {
		t.Fatalf("an all-filtered batch: %v, sent %v", err, s.got)
	}
	if _, err := parseFilter(FilterConfig{MinSeverity: "loud", Kinds: []string{"files"}, Hosts: []string{"["}}); err == nil {
		t.Fatal("a bad filter parsed")
	}
}

func TestFilterSilenceSummary(t *testing.T) {
	const file = plumbv1.FactKind_FACT_KIND_FILE
	f, err := parseFilter(FilterConfig{MinSeverity: "critical", Hosts: []string{"web-*"}})
	if err != nil {
		t.Fatal(err)
	}
	summary := func(held ...*plumbv1.SilencedItem) *plumbv1.DriftEvent {
		return &plumbv1.DriftEvent{
			Type:           plumbv1.DriftEventType_DRIFT_EVENT_TYPE_SILENCE_ENDED,
			SilenceSummary: &plumbv1.SilenceSummary{Held: held},
		}
	}
	mild := &plumbv1.SilencedItem{HostId: "web-1", Kind: file, Key: []byte("/etc/a"), Severity: plumbv1.Severity_SEVERITY_INFO}
	otherHost := &plumbv1.SilencedItem{HostId: "db-1", Kind: file, Key: []byte("/etc/a"), Severity: plumbv1.Severity_SEVERITY_CRITICAL}
	wanted := &plumbv1.SilencedItem{HostId: "web-2", Kind: file, Key: []byte("/etc/b"), Severity: plumbv1.Severity_SEVERITY_CRITICAL}
	for _, c := range []struct {
		ev   *plumbv1.DriftEvent
		want bool
	}{
		{summary(), true},
		{summary(mild, otherHost), false},
		{summary(mild, otherHost, wanted), true},
	} {
		if got := f.passes(c.ev); got != c.want {
			t.Errorf("summary holding %v: passes %v, want %v", c.ev.GetSilenceSummary().GetHeld(), got, c.want)
		}
	}
}
