package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Every collector a test starts serves TLS and wants API tokens, as a
// packaged one does. The harness keeps, by the address a test gives
// agents and plumbctl, where that collector keeps its CA and admin token
// and, once made, a join token its agents enroll with.
var creds = struct {
	sync.Mutex
	byAddr map[string]*colCreds
	byData map[string]*joinCache
}{byAddr: map[string]*colCreds{}, byData: map[string]*joinCache{}}

type colCreds struct {
	data     string
	insecure bool
	// ctlAddr is where plumbctl reaches the collector from the test's
	// network namespace (a relay, for a collector in another one).
	ctlAddr string
	join    *joinCache
}

// joinCache is one multi-use join token per data dir (the token lives in
// that collector's database, across restarts).
type joinCache struct {
	mu         sync.Mutex
	token, pin string
}

// useCollector records a collector's credentials under addr.
func useCollector(addr, data string, insecure bool, ctlAddr string) {
	creds.Lock()
	defer creds.Unlock()
	j := creds.byData[data]
	if j == nil {
		j = &joinCache{}
		creds.byData[data] = j
	}
	creds.byAddr[addr] = &colCreds{data: data, insecure: insecure, ctlAddr: ctlAddr, join: j}
}

func lookupCollector(addr string) *colCreds {
	creds.Lock()
	defer creds.Unlock()
	return creds.byAddr[addr]
}

// ctlAuthArgs are plumbctl's transport and token flags for the collector
// at addr: its CA file and admin token. An address no test started a
// collector on (a dead one, on purpose) gets plaintext.
func ctlAuthArgs(addr string) []string {
	c := lookupCollector(addr)
	if c == nil {
		return []string{"--insecure"}
	}
	tok := []string{"--token-file", filepath.Join(c.data, "admin.token")}
	if c.insecure {
		return append([]string{"--insecure"}, tok...)
	}
	return append([]string{"--ca-file", filepath.Join(c.data, "ca.crt")}, tok...)
}

// agentAuthArgs are an agent's flags to enroll with the collector at
// addr: a join token and the CA pin, made once per collector data dir.
func agentAuthArgs(t *testing.T, addr string) []string {
	t.Helper()
	c := lookupCollector(addr)
	if c == nil || c.insecure {
		return []string{"--insecure"}
	}
	c.join.mu.Lock()
	defer c.join.mu.Unlock()
	if c.join.token == "" {
		var got struct {
			Token string `json:"token"`
			Pin   string `json:"ca_pin"`
		}
		var last string
		deadline := time.Now().Add(20 * time.Second)
		for {
			cmd := exec.Command(bin.ctl, append(ctlAuthArgs(c.ctlAddr), "--collector", c.ctlAddr,
				"-o", "json", "token", "create", "--ttl", "24h", "--uses", "100000")...)
			out, err := cmd.Output()
			if err == nil && json.Unmarshal(out, &got) == nil && got.Token != "" {
				break
			}
			if ee, ok := err.(*exec.ExitError); ok {
				last = string(ee.Stderr)
			}
			if time.Now().After(deadline) {
				t.Fatalf("join token from the collector at %s: %v %s", c.ctlAddr, err, last)
			}
			time.Sleep(100 * time.Millisecond)
		}
		c.join.token, c.join.pin = got.Token, got.Pin
	}
	return []string{"--join-token", c.join.token, "--ca-pin", c.join.pin}
}
