package storetest

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// testLargeUpdate: one Update as big as a resync's group commit (more rows
// than a SQL statement takes parameters, if a backend batches them), with
// values of a MiB, reads back whole.
func testLargeUpdate(t *testing.T, b Backend) {
	s := b.Open(t)
	const facts, events = 12000, 2500
	bigValue := strings.Repeat("v", 1<<20)
	big := fact.Seal(&plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_SYSCTL, Key: []byte("big"),
		Attrs: &plumbv1.Fact_Value{Value: &plumbv1.ValueAttrs{Value: bigValue}}})
	bigEvent := eventOf("h", -1)
	bigEvent.Item.Reason = strings.Repeat("r", 256<<10)
	secret := bytes.Repeat([]byte{0, 1, 2, 0xff}, 16<<10)
	update(t, s, func(tx store.Tx) error {
		for i := range facts {
			if err := tx.PutFact("h", fileFact(fmt.Sprintf("/f/%06d", i), "x")); err != nil {
				return err
			}
		}
		if err := tx.PutFact("h", big); err != nil {
			return err
		}
		for i := range events {
			if err := tx.AppendEvent(eventOf("h", i)); err != nil {
				return err
			}
		}
		if err := tx.AppendEvent(bigEvent); err != nil {
			return err
		}
		return tx.PutSecret("ca.key", secret)
	})
	view(t, s, func(tx store.ReadTx) error {
		n := 0
		if err := tx.Facts("h", plumbv1.FactKind_FACT_KIND_FILE, func(f *plumbv1.Fact) error {
			if want := fmt.Sprintf("/f/%06d", n); string(f.GetKey()) != want {
				return fmt.Errorf("fact %d is %q, want %q", n, f.GetKey(), want)
			}
			n++
			return nil
		}); err != nil {
			return err
		}
		if n != facts {
			t.Errorf("%d file facts, want %d", n, facts)
		}
		got, err := tx.Fact("h", fact.KeyOf(big))
		if err != nil || !proto.Equal(got, big) {
			t.Errorf("the 1 MiB fact read back changed (%v)", err)
		}
		evs, err := tx.EventsAfter(0, 2*events)
		if err != nil {
			return err
		}
		if len(evs) != events+1 || !proto.Equal(evs[events], withSeq(bigEvent, evs[events].GetSeq())) {
			t.Errorf("%d events read back, want %d, the last the 256 KiB one", len(evs), events+1)
		}
		checkIncreasing(t, evs)
		if got, err := tx.Secret("ca.key"); err != nil || !bytes.Equal(got, secret) {
			t.Errorf("the 64 KiB secret read back changed (%v)", err)
		}
		return nil
	})
}

// withSeq is a copy of ev with Seq set.
func withSeq(ev *plumbv1.DriftEvent, seq uint64) *plumbv1.DriftEvent {
	c := proto.Clone(ev).(*plumbv1.DriftEvent)
	c.Seq = seq
	return c
}
