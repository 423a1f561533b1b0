package policy

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/drift"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// rig is a real store, an engine whose Evaluator is a Set, and the
// service over them.
type rig struct {
	t   *testing.T
	st  *store.Bolt
	eng *drift.Engine
	set *Set
	svc *Service
	seq map[string]uint64
}

func newRig(t *testing.T) *rig {
	st, err := store.Open(filepath.Join(t.TempDir(), "plumb.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	r := &rig{t: t, st: st, set: &Set{}, seq: map[string]uint64{}}
	r.eng = &drift.Engine{Expect: r.set}
	r.svc = NewService(st, r.eng, r.set, nil, nil)
	return r
}

func (r *rig) addHost(id string, labels map[string]string) {
	err := r.st.Update(context.Background(), func(tx store.Tx) error {
		return tx.PutHost(&store.Host{ID: id, Labels: labels})
	})
	if err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) apply(host string, d *plumbv1.Delta) []*plumbv1.DriftEvent {
	r.t.Helper()
	r.seq[host]++
	d.Seq = r.seq[host]
	var evs []*plumbv1.DriftEvent
	err := r.st.Update(context.Background(), func(tx store.Tx) error {
		h, err := tx.Host(host)
		if err != nil {
			return err
		}
		if evs, err = r.eng.Apply(tx, h, d); err != nil {
			return err
		}
		return tx.PutHost(h)
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return evs
}

func (r *rig) use(yaml string) {
	r.t.Helper()
	p, err := Parse([]byte(yaml))
	if err != nil {
		r.t.Fatal(err)
	}
	r.set.Use(p)
}

// item returns the host's expectation item of rule, nil if none.
func (r *rig) item(host, rule string) *plumbv1.DriftItem {
	var it *plumbv1.DriftItem
	_ = r.st.View(context.Background(), func(tx store.ReadTx) error {
		it, _ = tx.Drift(host, fact.Key{Kind: plumbv1.FactKind_FACT_KIND_EXPECTATION, ID: rule})
		return nil
	})
	return it
}

func (r *rig) wantOpen(host, rule, detail string) {
	r.t.Helper()
	it := r.item(host, rule)
	if it.GetStatus() != plumbv1.DriftStatus_DRIFT_STATUS_OPEN {
		r.t.Fatalf("%s %s: item %v, want open", host, rule, it)
	}
	if got := it.GetCurrent().GetValue().GetValue(); got != detail {
		r.t.Fatalf("%s %s: detail %q, want %q", host, rule, got, detail)
	}
}

func (r *rig) wantClosed(host, rule string) {
	r.t.Helper()
	if it := r.item(host, rule); it.GetStatus() == plumbv1.DriftStatus_DRIFT_STATUS_OPEN {
		r.t.Fatalf("%s %s: open (%q), want resolved or none", host, rule, it.GetCurrent().GetValue().GetValue())
	}
}

func pkg(name, arch, manager, version string) *plumbv1.Delta {
	return &plumbv1.Delta{Op: plumbv1.DeltaOp_DELTA_OP_UPSERT, Fact: fact.Seal(&plumbv1.Fact{
		Kind:  plumbv1.FactKind_FACT_KIND_PACKAGE,
		Key:   []byte(name + ":" + arch),
		Attrs: &plumbv1.Fact_Package{Package: &plumbv1.PackageAttrs{Version: version, Arch: arch, Manager: manager}},
	})}
}

func value(kind plumbv1.FactKind, key, v string) *plumbv1.Delta {
	return &plumbv1.Delta{Op: plumbv1.DeltaOp_DELTA_OP_UPSERT, Fact: fact.Seal(&plumbv1.Fact{
		Kind: kind, Key: []byte(key), Attrs: &plumbv1.Fact_Value{Value: &plumbv1.ValueAttrs{Value: v}},
	})}
}

func file(path string, mode uint32) *plumbv1.Delta {
	return &plumbv1.Delta{Op: plumbv1.DeltaOp_DELTA_OP_UPSERT, Fact: fact.Seal(&plumbv1.Fact{
		Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte(path),
		Attrs: &plumbv1.Fact_File{File: &plumbv1.FileAttrs{Type: plumbv1.FileType_FILE_TYPE_REGULAR, Mode: mode, Sha256: make([]byte, 32)}},
	})}
}

func deleteFile(path string) *plumbv1.Delta {
	return &plumbv1.Delta{Op: plumbv1.DeltaOp_DELTA_OP_DELETE, Fact: &plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte(path)}}
}

const enginePolicy = `rules:
  - name: web-nginx
    selector: group=web
    package: nginx
    version: ">= 1.24, < 1.26"
  - name: no-forwarding
    sysctl: net.ipv4.ip_forward
    value: "0"
  - name: kernel-6
    kernel_release_prefix: "6."
  - name: marker
    file: /etc/marker
    mode: "0600"
  - name: no-telnet
    file: /etc/inetd.conf
    exists: false
`

// TestFactChangesMoveItems: every changed fact a rule reads opens,
// updates or resolves that rule's item, by dpkg version order (1.9 is
// below 1.24), and a host the selector leaves out gets none.
func TestFactChangesMoveItems(t *testing.T) {
	r := newRig(t)
	r.use(enginePolicy)
	r.addHost("web-1", map[string]string{"group": "web"})
	r.addHost("db-1", map[string]string{"group": "db"})

	evs := r.apply("web-1", pkg("nginx", "amd64", "dpkg", "1.22.1-9"))
	if len(evs) != 1 || evs[0].GetType() != plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED || evs[0].GetItem().GetKind() != plumbv1.FactKind_FACT_KIND_EXPECTATION {
		t.Fatalf("events %v, want one expectation OPENED", evs)
	}
	r.wantOpen("web-1", "web-nginx", "package nginx:amd64 is 1.22.1-9, policy web-nginx wants >= 1.24, < 1.26")
	evs = r.apply("web-1", pkg("nginx", "amd64", "dpkg", "1.9"))
	if len(evs) != 1 || evs[0].GetType() != plumbv1.DriftEventType_DRIFT_EVENT_TYPE_UPDATED {
		t.Fatalf("events %v, want UPDATED", evs)
	}
	r.wantOpen("web-1", "web-nginx", "package nginx:amd64 is 1.9, policy web-nginx wants >= 1.24, < 1.26")
	r.apply("web-1", pkg("nginx", "amd64", "dpkg", "1.24.0-2~deb12u1"))
	r.wantClosed("web-1", "web-nginx")
	r.apply("web-1", pkg("nginx", "amd64", "dpkg", "1.26~rc1"))
	r.wantClosed("web-1", "web-nginx") // ~ sorts before the release: still below 1.26
	r.apply("web-1", pkg("nginx", "amd64", "dpkg", "1:1.0"))
	r.wantOpen("web-1", "web-nginx", "package nginx:amd64 is 1:1.0, policy web-nginx wants >= 1.24, < 1.26")

	r.apply("db-1", pkg("nginx", "amd64", "dpkg", "1.0"))
	if it := r.item("db-1", "web-nginx"); it != nil {
		t.Errorf("db-1 is not in group web, yet has %v", it)
	}

	r.apply("db-1", value(plumbv1.FactKind_FACT_KIND_SYSCTL, "net.ipv4.ip_forward", "1"))
	r.wantOpen("db-1", "no-forwarding", "sysctl net.ipv4.ip_forward is 1, policy no-forwarding wants 0")
	r.apply("db-1", value(plumbv1.FactKind_FACT_KIND_SYSCTL, "net.ipv4.ip_forward", "0"))
	r.wantClosed("db-1", "no-forwarding")

	r.apply("db-1", value(plumbv1.FactKind_FACT_KIND_KERNEL, "release", "5.15.0-91-generic"))
	r.wantOpen("db-1", "kernel-6", "kernel release is 5.15.0-91-generic, policy kernel-6 wants a release starting 6.")

	r.apply("db-1", file("/etc/marker", 0o100644))
	r.wantOpen("db-1", "marker", "file /etc/marker has mode 0644, wants 0600 (policy marker)")
	r.apply("db-1", file("/etc/marker", 0o100600))
	r.wantClosed("db-1", "marker")
	r.apply("db-1", deleteFile("/etc/marker"))
	r.wantOpen("db-1", "marker", "file /etc/marker is missing, policy marker wants it to exist")

	r.apply("db-1", file("/etc/inetd.conf", 0o644))
	r.wantOpen("db-1", "no-telnet", "file /etc/inetd.conf exists, policy no-telnet wants it absent")
	r.apply("db-1", deleteFile("/etc/inetd.conf"))
	r.wantClosed("db-1", "no-telnet")

	// An rpm host orders by rpmvercmp.
	r.addHost("web-rpm", map[string]string{"group": "web"})
	r.apply("web-rpm", pkg("nginx", "x86_64", "rpm", "1.24.0-1.el9"))
	r.wantClosed("web-rpm", "web-nginx")

	// Not acceptable.
	err := r.st.Update(context.Background(), func(tx store.Tx) error {
		_, _, err := r.eng.Accept(tx, "web-1", &fact.Key{Kind: plumbv1.FactKind_FACT_KIND_EXPECTATION, ID: "web-nginx"}, nil, "ops", "no")
		return err
	})
	if !errors.Is(err, drift.ErrExpectationItem) {
		t.Errorf("accepting an expectation item: %v, want ErrExpectationItem", err)
	}
}

// TestApplyReevaluates: applying a policy judges every host against it
// (items open for hosts that already violate it, and resolve for rules
// it drops), a dry run changes nothing, and each apply is a new version.
func TestApplyReevaluates(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	for _, h := range []string{"web-1", "web-2", "db-1"} {
		group := strings.TrimRight(h, "-12")
		r.addHost(h, map[string]string{"group": group})
	}
	r.apply("web-1", pkg("nginx", "amd64", "dpkg", "1.22.1-9"))
	r.apply("web-2", pkg("nginx", "amd64", "dpkg", "1.24.0-1"))
	r.apply("db-1", pkg("nginx", "amd64", "dpkg", "1.0"))

	dry, err := r.svc.ApplyPolicy(ctx, &plumbv1.ApplyPolicyRequest{Yaml: enginePolicy, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	var nginx []string
	for _, v := range dry.GetViolations() {
		if v.GetRule() == "web-nginx" {
			nginx = append(nginx, v.GetHostId())
		}
	}
	if strings.Join(nginx, ",") != "web-1" || dry.GetHosts() != 3 || dry.GetPolicy() != nil {
		t.Errorf("dry run: web-nginx violated by %v of %d hosts, policy %v; want web-1 of 3, none", nginx, dry.GetHosts(), dry.GetPolicy())
	}
	if it := r.item("web-1", "web-nginx"); it != nil {
		t.Fatalf("a dry run opened %v", it)
	}

	resp, err := r.svc.ApplyPolicy(ctx, &plumbv1.ApplyPolicyRequest{Yaml: enginePolicy})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetPolicy().GetVersion() != 1 || resp.GetPolicy().GetRules() != 5 {
		t.Errorf("apply: %v", resp.GetPolicy())
	}
	r.wantOpen("web-1", "web-nginx", "package nginx:amd64 is 1.22.1-9, policy web-nginx wants >= 1.24, < 1.26")
	r.wantClosed("web-2", "web-nginx")
	r.wantOpen("db-1", "no-forwarding", "sysctl net.ipv4.ip_forward is not reported, policy no-forwarding wants 0")

	// Version 2 drops every rule but web-nginx and relaxes it.
	v2 := "rules:\n  - name: web-nginx\n    selector: group=web\n    package: nginx\n    version: '>= 1.22'\n"
	if _, err := r.svc.ApplyPolicy(ctx, &plumbv1.ApplyPolicyRequest{Yaml: v2}); err != nil {
		t.Fatal(err)
	}
	r.wantClosed("web-1", "web-nginx")
	r.wantClosed("db-1", "no-forwarding")
	if it := r.item("db-1", "no-forwarding"); !strings.Contains(it.GetCurrent().GetValue().GetValue(), "no longer applies") {
		t.Errorf("dropped rule resolved with %q", it.GetCurrent().GetValue().GetValue())
	}
	var open uint64
	_ = r.st.View(ctx, func(tx store.ReadTx) error {
		h, err := tx.Host("db-1")
		open = h.OpenDrift
		return err
	})
	if open != 0 {
		t.Errorf("db-1 counts %d open drift items, want 0", open)
	}

	got, err := r.svc.GetPolicy(ctx, &plumbv1.GetPolicyRequest{})
	if err != nil || got.GetPolicy().GetVersion() != 2 || got.GetPolicy().GetYaml() != v2 {
		t.Errorf("GetPolicy = %v, %v", got, err)
	}
	first, err := r.svc.GetPolicy(ctx, &plumbv1.GetPolicyRequest{Version: 1})
	if err != nil || first.GetPolicy().GetYaml() != enginePolicy {
		t.Errorf("GetPolicy(1) = %v, %v", first, err)
	}
	list, err := r.svc.ListPolicyVersions(ctx, &plumbv1.ListPolicyVersionsRequest{PageSize: 1})
	if err != nil || len(list.GetVersions()) != 1 || list.GetVersions()[0].GetVersion() != 2 || list.GetNextPageToken() == "" {
		t.Fatalf("ListPolicyVersions page 1 = %v, %v", list, err)
	}
	list, err = r.svc.ListPolicyVersions(ctx, &plumbv1.ListPolicyVersionsRequest{PageSize: 1, PageToken: list.GetNextPageToken()})
	if err != nil || len(list.GetVersions()) != 1 || list.GetVersions()[0].GetVersion() != 1 || list.GetNextPageToken() != "" {
		t.Fatalf("ListPolicyVersions page 2 = %v, %v", list, err)
	}

	// A policy that does not parse names its line and changes nothing.
	if _, err := r.svc.ApplyPolicy(ctx, &plumbv1.ApplyPolicyRequest{Yaml: "rules:\n  - name: x\n    sysctl: a\n"}); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad policy: %v", err)
	}
}

// TestBaselineAndRelabel: a host's first snapshot, once its baseline, is
// judged by every rule (a package it lacks violates a rule no fact change
// would have triggered), and a change of its labels re-judges it.
func TestBaselineAndRelabel(t *testing.T) {
	r := newRig(t)
	r.use(enginePolicy)
	r.addHost("web-9", map[string]string{"group": "web"})
	r.apply("web-9", value(plumbv1.FactKind_FACT_KIND_SYSCTL, "net.ipv4.ip_forward", "0"))
	if it := r.item("web-9", "web-nginx"); it != nil {
		t.Fatalf("judged before its snapshot is complete: %v", it)
	}
	r.apply("web-9", &plumbv1.Delta{Op: plumbv1.DeltaOp_DELTA_OP_CHECKPOINT})
	r.wantOpen("web-9", "web-nginx", "package nginx is not installed, policy web-nginx wants >= 1.24, < 1.26")
	r.wantOpen("web-9", "marker", "file /etc/marker is missing, policy marker wants it to exist")
	r.wantClosed("web-9", "no-forwarding")

	var evs []*plumbv1.DriftEvent
	err := r.st.Update(context.Background(), func(tx store.Tx) error {
		h, err := tx.Host("web-9")
		if err != nil {
			return err
		}
		h.Labels = map[string]string{"group": "db"}
		if evs, err = r.eng.Relabeled(tx, h); err != nil {
			return err
		}
		return tx.PutHost(h)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].GetType() != plumbv1.DriftEventType_DRIFT_EVENT_TYPE_RESOLVED || string(evs[0].GetItem().GetKey()) != "web-nginx" {
		t.Errorf("relabel to group=db: events %v, want web-nginx resolved", evs)
	}
	r.wantOpen("web-9", "marker", "file /etc/marker is missing, policy marker wants it to exist")
}

// TestApplyInBatches: a policy applied to more hosts than one batch
// judges every one of them.
func TestApplyInBatches(t *testing.T) {
	r := newRig(t)
	n := 2*BatchHosts + 37
	for i := range n {
		r.addHost(fmt.Sprintf("web-%03d", i), map[string]string{"group": "web"})
	}
	resp, err := r.svc.ApplyPolicy(context.Background(), &plumbv1.ApplyPolicyRequest{Yaml: "rules:\n  - {name: nginx, package: nginx, version: '>= 1'}\n"})
	if err != nil {
		t.Fatal(err)
	}
	if int(resp.GetHosts()) != n || len(resp.GetViolations()) != n || resp.GetTruncated() {
		t.Fatalf("%d hosts, %d violations (truncated %v); want %d and %d", resp.GetHosts(), len(resp.GetViolations()), resp.GetTruncated(), n, n)
	}
	for i := range n {
		r.wantOpen(fmt.Sprintf("web-%03d", i), "nginx", "package nginx is not installed, policy nginx wants >= 1")
	}
}
