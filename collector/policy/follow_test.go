package policy

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/collector/store"
)

func putPolicy(t *testing.T, st store.Store, version uint64, yaml string) {
	t.Helper()
	err := st.Update(context.Background(), func(tx store.Tx) error {
		return tx.PutPolicy(&store.Policy{Version: version, Author: "other-collector", AppliedAt: time.Now().UnixNano(), YAML: yaml})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A policy another collector stores is in force here after one look, and
// an older version seen late never replaces a newer one.
func TestFollowPolicyOfAnotherCollector(t *testing.T) {
	r := newRig(t)
	if err := Load(context.Background(), r.st, r.set); err != nil {
		t.Fatal(err)
	}
	if len(r.set.load().policy.Rules) != 0 {
		t.Fatal("rules in force before any policy")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { Follow(ctx, r.st, r.set, 10*time.Millisecond, slog.New(slog.DiscardHandler)) })
	defer func() { cancel(); wg.Wait() }()

	putPolicy(t, r.st, 1, enginePolicy)
	deadline := time.Now().Add(10 * time.Second)
	for r.set.Version() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("policy 1 not followed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := len(r.set.load().policy.Rules); n == 0 {
		t.Fatal("followed policy has no rules")
	}
	r.addHost("web-1", map[string]string{"group": "web"})
	r.apply("web-1", pkg("nginx", "amd64", "dpkg", "1.22.1-9"))
	if it := r.item("web-1", "web-nginx"); it == nil {
		t.Fatal("the followed policy did not judge a fact applied here")
	}

	r.set.UseVersion(nil, 3) // applied here meanwhile as version 3
	r.set.UseVersion(nil, 2) // a late look at version 2
	if v := r.set.Version(); v != 3 {
		t.Fatalf("version in force %d, want 3", v)
	}
}
