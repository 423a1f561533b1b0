package storetest

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/plumb-dev/plumb/collector/store"
)

// The names dump reads beyond what the store lists: facts of hosts without
// a record, groups, leases and secrets are only found by name.
var (
	dumpHosts  = []string{"h", "h2", "web-1"}
	dumpGroups = []string{"g", "web"}
	dumpNames  = []string{"l", "notifier/hook", "ca.key", "digest.key"}
)

// dump renders everything tx sees of the store (for the names above) as
// text, so that two states can be compared whole.
func dump(t *testing.T, tx store.ReadTx) string {
	t.Helper()
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	msg := func(m proto.Message) string { return prototext.MarshalOptions{}.Format(m) }
	check := func(what string, err error) {
		t.Helper()
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("dump: %s: %v", what, err)
		}
	}
	check("Hosts", tx.Hosts(func(h *store.Host) error {
		line("host %q seq=%d resyncs=%d health=%d facts=%d digest=%x baseline=%v open=%d seen=%d info={%s} labels=%v coverage=%d",
			h.ID, h.AppliedSeq, h.Resyncs, h.HealthChanges, h.FactCount, h.Digest.Sum(), h.HasBaseline, h.OpenDrift, h.LastSeen,
			msg(h.Info), h.Labels, len(h.Coverage))
		return nil
	}))
	for _, h := range dumpHosts {
		check("Facts", tx.Facts(h, 0, func(f protoFact) error { line("fact %q %s", h, msg(f)); return nil }))
		check("Baselines", tx.Baselines(h, func(f protoFact) error { line("baseline %q %s", h, msg(f)); return nil }))
		check("FactChanges", tx.FactChanges(h, -1, func(c *store.FactChange) error {
			old := "absent"
			if c.Old != nil {
				old = msg(c.Old)
			}
			line("history %q %d %s %s", h, c.At, c.Key, old)
			return nil
		}))
	}
	check("DriftItems", tx.DriftItems("", true, func(it protoItem) error { line("drift %s", msg(it)); return nil }))
	evs, err := tx.EventsAfter(0, 1<<20)
	check("EventsAfter", err)
	for _, ev := range evs {
		line("event %s", msg(ev))
	}
	last, err := tx.LastEventSeq()
	check("LastEventSeq", err)
	line("last event %d", last)
	check("Cursors", tx.Cursors(func(n string, seq uint64) error { line("cursor %q %d", n, seq); return nil }))
	check("JoinTokens", tx.JoinTokens(func(v *store.JoinToken) error { line("join token %+v", *v); return nil }))
	check("APITokens", tx.APITokens(func(v *store.APIToken) error { line("api token %+v", *v); return nil }))
	check("Identities", tx.Identities(func(v *store.Identity) error { line("identity %+v", *v); return nil }))
	check("Silences", tx.Silences(func(v *store.Silence) error { line("silence %+v", *v); return nil }))
	for _, g := range dumpGroups {
		rec, err := tx.GroupBaseline(g)
		check("GroupBaseline", err)
		if rec != nil {
			line("group %+v", *rec)
		}
		check("GroupBaselineFacts", tx.GroupBaselineFacts(g, func(f protoFact) error { line("group fact %q %s", g, msg(f)); return nil }))
		check("GroupExceptions", tx.GroupExceptions(g, func(e *store.GroupException) error { line("exception %+v", *e); return nil }))
	}
	recs, err := tx.AuditAfter(0, 1<<20)
	check("AuditAfter", err)
	for _, r := range recs {
		line("audit %+v", *r)
	}
	check("PoliciesBefore", tx.PoliciesBefore(0, func(p *store.Policy) error { line("policy %+v", *p); return nil }))
	for _, n := range dumpNames {
		l, err := tx.Lease(n)
		check("Lease", err)
		if l != nil {
			line("lease %+v", *l)
		}
		v, err := tx.Secret(n)
		check("Secret", err)
		if err == nil {
			line("secret %q %s", n, hex.EncodeToString(v))
		}
	}
	return b.String()
}
