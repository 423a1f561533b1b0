package silence

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// TestMatcherRandom checks Match against a plain oracle on a seeded
// random workload of hosts, labels, kinds and keys, with matchers built
// from exact names, prefix globs, label subsets, kinds and key subtrees.
func TestMatcherRandom(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	hostNames := []string{"web-1", "web-2", "web-10", "db-1", "db-2", "cache", "wébé-3"}
	labelVals := map[string][]string{"env": {"prod", "staging"}, "role": {"web", "db"}, "dc": {"a", "b"}}
	kinds := []plumbv1.FactKind{plumbv1.FactKind_FACT_KIND_FILE, plumbv1.FactKind_FACT_KIND_PACKAGE, plumbv1.FactKind_FACT_KIND_SYSCTL}
	dirs := []string{"/etc", "/etc/nginx", "/etc/ssh", "/usr/lib"}
	randLabels := func() map[string]string {
		l := map[string]string{}
		for k, vs := range labelVals {
			if r.IntN(3) > 0 {
				l[k] = vs[r.IntN(len(vs))]
			}
		}
		return l
	}
	for i := range 20000 {
		// A matcher and the oracle that says what it should match.
		var m Matcher
		var hostPrefix, hostExact string
		switch r.IntN(3) {
		case 0:
			hostExact = hostNames[r.IntN(len(hostNames))]
			m.Hosts = []string{hostExact}
		case 1:
			hostPrefix = string([]rune(hostNames[r.IntN(len(hostNames))])[:2])
			m.Hosts = []string{hostPrefix + "*"}
		}
		if m.Hosts == nil || r.IntN(2) == 0 {
			m.Labels = randLabels()
			if len(m.Labels) == 0 {
				m.Labels = map[string]string{"env": "prod"}
			}
		}
		if r.IntN(2) == 0 {
			m.Kind = kinds[r.IntN(len(kinds))]
		}
		keyDir := ""
		if r.IntN(2) == 0 {
			keyDir = dirs[r.IntN(len(dirs))]
			m.Key = keyDir + "/**"
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("case %d: generated matcher %v invalid: %v", i, m, err)
		}

		host := hostNames[r.IntN(len(hostNames))]
		labels := randLabels()
		kind := kinds[r.IntN(len(kinds))]
		key := dirs[r.IntN(len(dirs))] + "/" + fmt.Sprint(r.IntN(3)) + ".conf"

		want := true
		switch {
		case hostExact != "" && host != hostExact:
			want = false
		case hostPrefix != "" && !strings.HasPrefix(host, hostPrefix):
			want = false
		case m.Kind != 0 && m.Kind != kind:
			want = false
		case keyDir != "" && !strings.HasPrefix(key, keyDir+"/"):
			want = false
		}
		for k, v := range m.Labels {
			if labels[k] != v {
				want = false
			}
		}
		if got := m.Match(host, labels, kind, []byte(key)); got != want {
			t.Fatalf("case %d (seed %d): %v .Match(%q, %v, %v, %q) = %v, want %v", i, seed, m, host, labels, kind, key, got, want)
		}
	}
}

func TestMatcherValidate(t *testing.T) {
	long := strings.Repeat("x", MaxPattern+1)
	many := make([]string, MaxHosts+1)
	for i := range many {
		many[i] = "h"
	}
	for _, c := range []struct {
		name string
		m    Matcher
		want string // in the error; "" for valid
	}{
		{"host", Matcher{Hosts: []string{"web-1"}}, ""},
		{"label", Matcher{Labels: map[string]string{"env": "prod"}}, ""},
		{"everything on purpose", Matcher{Hosts: []string{"*"}}, ""},
		{"nothing", Matcher{Key: "/etc/**"}, "at least one"},
		{"bad glob", Matcher{Hosts: []string{"web-["}}, "not a valid glob"},
		{"empty host", Matcher{Hosts: []string{""}}, "empty"},
		{"long host", Matcher{Hosts: []string{long}}, "longer than"},
		{"many hosts", Matcher{Hosts: many}, "at most"},
		{"long label value", Matcher{Labels: map[string]string{"env": long}}, "longer than"},
		{"not utf8", Matcher{Hosts: []string{"\xff"}}, "not UTF-8"},
		{"bad key glob", Matcher{Hosts: []string{"h"}, Key: "/etc/[a"}, "not a valid glob"},
		{"bad kind", Matcher{Hosts: []string{"h"}, Kind: 99}, "unknown"},
	} {
		err := c.m.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}
