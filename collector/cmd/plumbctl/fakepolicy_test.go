package main

import (
	"context"

	"google.golang.org/grpc"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/drift"
	"github.com/plumb-dev/plumb/collector/policy"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// realPolicy serves the real PolicyService on st, on the silence
// service's clock, with two hosts the policy scripts judge: web-1 (group
// web) with nginx 1.22.1-9 and db-1 (group db) with nginx 1.0.
func realPolicy(srv *grpc.Server, st store.Store, clk *silenceClock) error {
	set := &policy.Set{}
	eng := &drift.Engine{Now: clk.now, Expect: set}
	for _, h := range []struct{ id, group, version string }{{"web-1", "web", "1.22.1-9"}, {"db-1", "db", "1.0"}} {
		err := st.Update(context.Background(), func(tx store.Tx) error {
			host := &store.Host{ID: h.id, Labels: map[string]string{"group": h.group}}
			_, err := eng.Apply(tx, host, &plumbv1.Delta{Seq: 1, Op: plumbv1.DeltaOp_DELTA_OP_UPSERT, Fact: fact.Seal(&plumbv1.Fact{
				Kind: plumbv1.FactKind_FACT_KIND_PACKAGE, Key: []byte("nginx:amd64"),
				Attrs: &plumbv1.Fact_Package{Package: &plumbv1.PackageAttrs{Version: h.version, Arch: "amd64", Manager: "dpkg"}},
			})})
			if err != nil {
				return err
			}
			return tx.PutHost(host)
		})
		if err != nil {
			return err
		}
	}
	plumbv1.RegisterPolicyServiceServer(srv, policy.NewService(st, eng, set, nil, nil).WithClock(clk.now))
	return nil
}
