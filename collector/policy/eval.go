package policy

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/drift"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
	"github.com/plumb-dev/plumb/pkg/pkgver"
)

// compiled is a policy indexed for the apply path: rules by the (kind,
// key) of the facts they read.
type compiled struct {
	policy  *Policy
	byKey   map[fact.Key][]*Rule
	version uint64 // the stored version it was applied as; 0: unversioned
}

func compile(p *Policy) *compiled {
	c := &compiled{policy: p, byKey: map[fact.Key][]*Rule{}}
	for _, r := range p.Rules {
		k := fact.Key{Kind: r.Kind, ID: r.Key}
		c.byKey[k] = append(c.byKey[k], r)
	}
	return c
}

// Set is the policy in force, swapped whole when one is applied. It is
// the drift engine's Evaluator. The zero value holds no rules.
type Set struct {
	cur atomic.Pointer[compiled]
}

// Use makes p the policy in force (nil: none).
func (s *Set) Use(p *Policy) {
	if p == nil {
		p = &Policy{}
	}
	s.cur.Store(compile(p))
}

// UseVersion makes p, applied as version, the policy in force unless a
// newer version already is: an apply on this collector and Follow seeing
// another's may race, and the newest must win.
func (s *Set) UseVersion(p *Policy, version uint64) {
	if p == nil {
		p = &Policy{}
	}
	c := compile(p)
	c.version = version
	for {
		old := s.cur.Load()
		if old != nil && old.version > version {
			return
		}
		if s.cur.CompareAndSwap(old, c) {
			return
		}
	}
}

// Version is the stored version of the policy in force, 0 if none.
func (s *Set) Version() uint64 {
	if c := s.cur.Load(); c != nil {
		return c.version
	}
	return 0
}

func (s *Set) load() *compiled {
	if c := s.cur.Load(); c != nil {
		return c
	}
	return compile(&Policy{})
}

// Check implements drift.Evaluator: the verdicts of the rules that read
// fact k and select host h.
func (s *Set) Check(tx store.ReadTx, h *store.Host, k fact.Key, _ *plumbv1.Fact) ([]drift.Verdict, error) {
	c := s.load()
	if len(c.byKey) == 0 {
		return nil, nil
	}
	lookups := []fact.Key{k}
	if k.Kind == plumbv1.FactKind_FACT_KIND_PACKAGE {
		// Keys are name:arch (dpkg) or name.arch (rpm); rules name the
		// package.
		if i := strings.LastIndexByte(k.ID, ':'); i > 0 {
			lookups = append(lookups, fact.Key{Kind: k.Kind, ID: k.ID[:i]})
		}
		if i := strings.LastIndexByte(k.ID, '.'); i > 0 {
			lookups = append(lookups, fact.Key{Kind: k.Kind, ID: k.ID[:i]})
		}
	}
	var out []drift.Verdict
	for _, lk := range lookups {
		for _, r := range c.byKey[lk] {
			if !Selects(r.Selector, h.Labels) {
				continue
			}
			v, err := Judge(tx, h.ID, r)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
	}
	return out, nil
}

// All implements drift.Evaluator: the verdicts of every rule that selects
// host h.
func (s *Set) All(tx store.ReadTx, h *store.Host) ([]drift.Verdict, error) {
	return Host(tx, h, s.load().policy)
}

// Host judges host h by every rule of p that selects it.
func Host(tx store.ReadTx, h *store.Host, p *Policy) ([]drift.Verdict, error) {
	var out []drift.Verdict
	for _, r := range p.Rules {
		if !Selects(r.Selector, h.Labels) {
			continue
		}
		v, err := Judge(tx, h.ID, r)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Selects reports whether a host with labels is selected by sel.
func Selects(sel, labels map[string]string) bool {
	for k, v := range sel {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Judge evaluates rule r against the host's current facts.
func Judge(tx store.ReadTx, host string, r *Rule) (drift.Verdict, error) {
	v := drift.Verdict{Rule: r.Name}
	var err error
	switch r.Kind {
	case plumbv1.FactKind_FACT_KIND_PACKAGE:
		v.Violated, v.Detail, err = judgePackage(tx, host, r)
	case plumbv1.FactKind_FACT_KIND_FILE:
		v.Violated, v.Detail, err = judgeFile(tx, host, r)
	default:
		v.Violated, v.Detail, err = judgeValue(tx, host, r)
	}
	return v, err
}

func current(tx store.ReadTx, host string, k fact.Key) (*plumbv1.Fact, error) {
	f, err := tx.Fact(host, k)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return f, err
}

var errStop = errors.New("stop")

// packages returns the host's facts of package name, whatever the arch.
func packages(tx store.ReadTx, host, name string) ([]*plumbv1.Fact, error) {
	var out []*plumbv1.Fact
	f, err := current(tx, host, fact.Key{Kind: plumbv1.FactKind_FACT_KIND_PACKAGE, ID: name})
	if err != nil {
		return nil, err
	}
	if f != nil {
		out = append(out, f)
	}
	for _, sep := range []string{".", ":"} {
		prefix := name + sep
		after := fact.Key{Kind: plumbv1.FactKind_FACT_KIND_PACKAGE, ID: prefix}
		err := tx.FactsAfter(host, plumbv1.FactKind_FACT_KIND_PACKAGE, &after, func(f *plumbv1.Fact) error {
			key := string(f.GetKey())
			if !strings.HasPrefix(key, prefix) {
				return errStop
			}
			// name.arch: the arch has no dot (python3.11.x86_64 is not
			// package python3).
			if arch := key[len(prefix):]; !strings.ContainsAny(arch, ".:") {
				out = append(out, f)
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			return nil, err
		}
	}
	return out, nil
}

func judgePackage(tx store.ReadTx, host string, r *Rule) (bool, string, error) {
	fs, err := packages(tx, host, r.Key)
	if err != nil {
		return false, "", err
	}
	if len(fs) == 0 {
		return true, fmt.Sprintf("package %s is not installed, policy %s wants %s", r.Key, r.Name, r.Wants()), nil
	}
	for _, f := range fs {
		p := f.GetPackage()
		for _, c := range r.Versions {
			if !holds(c, pkgver.Compare(p.GetManager(), p.GetVersion(), c.Version)) {
				return true, fmt.Sprintf("package %s is %s, policy %s wants %s", fact.Display(f.GetKey()), p.GetVersion(), r.Name, r.Wants()), nil
			}
		}
	}
	f := fs[0]
	return false, fmt.Sprintf("package %s is %s, as policy %s wants (%s)", fact.Display(f.GetKey()), f.GetPackage().GetVersion(), r.Name, r.Wants()), nil
}

func holds(c Constraint, cmp int) bool {
	switch c.Op {
	case "=":
		return cmp == 0
	case "!=":
		return cmp != 0
	case "<":
		return cmp < 0
	case "<=":
		return cmp <= 0
	case ">":
		return cmp > 0
	case ">=":
		return cmp >= 0
	}
	return false
}

func judgeValue(tx store.ReadTx, host string, r *Rule) (bool, string, error) {
	f, err := current(tx, host, fact.Key{Kind: r.Kind, ID: r.Key})
	if err != nil {
		return false, "", err
	}
	what := fact.KindName(r.Kind) + " " + r.Key
	if f == nil {
		return true, fmt.Sprintf("%s is not reported, policy %s wants %s", what, r.Name, r.Wants()), nil
	}
	got := strings.TrimSpace(f.GetValue().GetValue())
	ok := got == r.Value
	if r.Kind == plumbv1.FactKind_FACT_KIND_KERNEL {
		ok = strings.HasPrefix(got, r.Prefix)
	}
	if !ok {
		return true, fmt.Sprintf("%s is %s, policy %s wants %s", what, got, r.Name, r.Wants()), nil
	}
	return false, fmt.Sprintf("%s is %s, as policy %s wants", what, got, r.Name), nil
}

func judgeFile(tx store.ReadTx, host string, r *Rule) (bool, string, error) {
	f, err := current(tx, host, fact.Key{Kind: plumbv1.FactKind_FACT_KIND_FILE, ID: r.Key})
	if err != nil {
		return false, "", err
	}
	what := "file " + fact.Display([]byte(r.Key))
	if r.Exists != nil && !*r.Exists {
		if f != nil {
			return true, fmt.Sprintf("%s exists, policy %s wants it absent", what, r.Name), nil
		}
		return false, fmt.Sprintf("%s is absent, as policy %s wants", what, r.Name), nil
	}
	if f == nil {
		return true, fmt.Sprintf("%s is missing, policy %s wants it to exist", what, r.Name), nil
	}
	a := f.GetFile()
	var bad []string
	if r.SHA256 != nil && !bytes.Equal(a.GetSha256(), r.SHA256) {
		bad = append(bad, fmt.Sprintf("sha256 %x, wants %x", a.GetSha256(), r.SHA256))
	}
	if r.Mode != nil && a.GetMode()&0o7777 != *r.Mode {
		bad = append(bad, fmt.Sprintf("mode %04o, wants %04o", a.GetMode()&0o7777, *r.Mode))
	}
	if r.UID != nil && a.GetUid() != *r.UID {
		bad = append(bad, fmt.Sprintf("uid %d, wants %d", a.GetUid(), *r.UID))
	}
	if r.GID != nil && a.GetGid() != *r.GID {
		bad = append(bad, fmt.Sprintf("gid %d, wants %d", a.GetGid(), *r.GID))
	}
	if len(bad) > 0 {
		return true, fmt.Sprintf("%s has %s (policy %s)", what, strings.Join(bad, "; "), r.Name), nil
	}
	return false, fmt.Sprintf("%s is as policy %s wants", what, r.Name), nil
}
