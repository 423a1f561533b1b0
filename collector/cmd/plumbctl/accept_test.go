package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/drift"
	"github.com/plumb-dev/plumb/collector/query"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// realCollector is the collector's real query server on a temp database,
// with drift made through the real engine.
type realCollector struct {
	t    *testing.T
	st   *store.Bolt
	eng  *drift.Engine
	addr string
	seq  uint64
	// beforeAccept, if set, runs once on the server as an AcceptDrift
	// call arrives, before the call is served.
	beforeAccept atomic.Pointer[func()]
}

func startReal(t *testing.T) *realCollector {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "plumb.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	c := &realCollector{t: t, st: st, eng: &drift.Engine{}}
	qs := query.New(st, c.eng, nil, nil, nil)
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if info.FullMethod == plumbv1.QueryService_AcceptDrift_FullMethodName {
			if fn := c.beforeAccept.Swap(nil); fn != nil {
				(*fn)()
			}
		}
		return h(ctx, req)
	}))
	plumbv1.RegisterQueryServiceServer(srv, qs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	c.addr = lis.Addr().String()
	return c
}

// apply commits deltas for host as ingest does.
func (c *realCollector) apply(host string, ds ...*plumbv1.Delta) {
	c.t.Helper()
	err := c.st.Update(context.Background(), func(tx store.Tx) error {
		h, err := tx.Host(host)
		if errors.Is(err, store.ErrNotFound) {
			h, err = &store.Host{ID: host}, nil
		}
		if err != nil {
			return err
		}
		for _, d := range ds {
			c.seq++
			d.Seq = c.seq
			if _, err := c.eng.Apply(tx, h, d); err != nil {
				return err
			}
		}
		return tx.PutHost(h)
	})
	if err != nil {
		c.t.Fatal(err)
	}
}

// state is the fact's baseline value and its drift item's status.
func (c *realCollector) state(host, key string) (baseline string, status plumbv1.DriftStatus) {
	c.t.Helper()
	k := fact.Key{Kind: plumbv1.FactKind_FACT_KIND_SYSCTL, ID: key}
	err := c.st.View(context.Background(), func(tx store.ReadTx) error {
		b, err := tx.Baseline(host, k)
		if err != nil {
			return err
		}
		it, err := tx.Drift(host, k)
		if err != nil {
			return err
		}
		baseline, status = b.GetValue().GetValue(), it.GetStatus()
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return baseline, status
}

func sysctlFact(name, value string) *plumbv1.Fact {
	return fact.Seal(&plumbv1.Fact{
		Kind: plumbv1.FactKind_FACT_KIND_SYSCTL, Key: []byte(name),
		Attrs: &plumbv1.Fact_Value{Value: &plumbv1.ValueAttrs{Value: value}},
	})
}

func upsertDelta(f *plumbv1.Fact) *plumbv1.Delta {
	return &plumbv1.Delta{Op: plumbv1.DeltaOp_DELTA_OP_UPSERT, Fact: f}
}

func runPlumbctl(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// accept --key shows the value it is about to accept and accepts only
// that value: when the fact changes between plumbctl's look and the
// collector's commit (here: as the AcceptDrift call arrives), the real
// collector refuses, nothing is accepted, and plumbctl says what to do.
func TestAcceptRefusesAValueItDidNotShow(t *testing.T) {
	t.Setenv("SUDO_USER", "alice")
	c := startReal(t)
	c.apply("web-1", upsertDelta(sysctlFact("vm.swappiness", "60")), &plumbv1.Delta{Op: plumbv1.DeltaOp_DELTA_OP_CHECKPOINT})
	c.apply("web-1", upsertDelta(sysctlFact("vm.swappiness", "10")))
	accept := []string{"--insecure", "--collector", c.addr, "accept", "--host", "web-1",
		"--kind", "sysctl", "--key", "vm.swappiness", "--reason", "tuned for postgres"}

	moved := func() { c.apply("web-1", upsertDelta(sysctlFact("vm.swappiness", "0"))) }
	c.beforeAccept.Store(&moved)
	code, _, stderr := runPlumbctl(t, accept...)
	if code != 1 {
		t.Fatalf("accept of a value that moved on: exit %d, want 1; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "accepting sysctl vm.swappiness on web-1 at 10 (") {
		t.Errorf("stderr does not show the value plumbctl looked at:\n%s", stderr)
	}
	if want := "plumbctl: accept drift: sysctl:vm.swappiness on web-1 changed since you looked; run plumbctl drift again\n"; !strings.HasSuffix(stderr, want) {
		t.Errorf("stderr:\n%s\nwant it to end with:\n%s", stderr, want)
	}
	if base, st := c.state("web-1", "vm.swappiness"); base != "60" || st != plumbv1.DriftStatus_DRIFT_STATUS_OPEN {
		t.Fatalf("after a refused accept: baseline %q, item %v; want 60, open", base, st)
	}

	// Run again, it shows the new value and accepts it.
	code, stdout, stderr := runPlumbctl(t, accept...)
	if code != 0 {
		t.Fatalf("accept: exit %d; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "accepting sysctl vm.swappiness on web-1 at 0 (") ||
		!strings.Contains(stderr, "accepted 1 drift item(s) on web-1 as alice") {
		t.Errorf("stderr:\n%s", stderr)
	}
	if !strings.Contains(stdout, "vm.swappiness  modified  accepted") {
		t.Errorf("stdout:\n%s", stdout)
	}
	if base, st := c.state("web-1", "vm.swappiness"); base != "0" || st != plumbv1.DriftStatus_DRIFT_STATUS_ACCEPTED {
		t.Fatalf("after accept: baseline %q, item %v; want 0, accepted", base, st)
	}
}

// A removal is accepted as what it is; accepting all of a host's drift
// sends no expected value (the collector would refuse one) and still works.
func TestAcceptRemovalAndAllAgainstCollector(t *testing.T) {
	t.Setenv("SUDO_USER", "alice")
	c := startReal(t)
	c.apply("web-1", upsertDelta(sysctlFact("net.ipv4.ip_forward", "0")), upsertDelta(sysctlFact("vm.swappiness", "60")),
		&plumbv1.Delta{Op: plumbv1.DeltaOp_DELTA_OP_CHECKPOINT})
	c.apply("web-1", &plumbv1.Delta{Op: plumbv1.DeltaOp_DELTA_OP_DELETE, Fact: &plumbv1.Fact{
		Kind: plumbv1.FactKind_FACT_KIND_SYSCTL, Key: []byte("net.ipv4.ip_forward")}},
		upsertDelta(sysctlFact("vm.swappiness", "10")))

	code, _, stderr := runPlumbctl(t, "--insecure", "--collector", c.addr, "accept", "--host", "web-1",
		"--kind", "sysctl", "--key", "net.ipv4.ip_forward", "--reason", "routing off")
	if code != 0 || !strings.Contains(stderr, "accepting sysctl net.ipv4.ip_forward on web-1 as removed\n") {
		t.Fatalf("accept of a removal: exit %d; stderr:\n%s", code, stderr)
	}
	code, stdout, stderr := runPlumbctl(t, "--insecure", "--collector", c.addr, "accept", "--host", "web-1", "--reason", "sweep")
	if code != 0 || strings.Contains(stderr, "accepting") || !strings.Contains(stdout, "vm.swappiness  modified  accepted") {
		t.Fatalf("accept all: exit %d; stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}
