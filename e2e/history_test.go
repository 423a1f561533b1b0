package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type historyEntryJSON struct {
	At     string `json:"at"`
	Host   string `json:"host"`
	Actor  string `json:"actor"`
	Action string `json:"action"`
	Target string `json:"target"`
	Reason string `json:"reason"`
}

type factAttrsJSON struct {
	Key        string         `json:"key"`
	Attributes map[string]any `json:"attributes"`
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestHistoryAndFactsAt changes a watched file twice at known times and
// checks, with the real binaries, that plumbctl facts --at returns the
// content digest each time had (computed here from the content written),
// that facts --changed-since names the file with both digests, and that
// plumbctl history lists every transition in order with its actor: the
// agent's changes, an accept by a named operator token, a silence by the
// admin.
func TestHistoryAndFactsAt(t *testing.T) {
	const host = "hist-1"
	_, c, tree := enrolledHost(t, host, "state")
	file := filepath.Join(tree, "a")
	shaOf := func(at string) string {
		t.Helper()
		var facts []factAttrsJSON
		args := []string{"facts", "--host", host, "--kind", "file", "--key", file}
		if at != "" {
			args = append(args, "--at", at)
		}
		ctlJSON(t, c.addr, &facts, args...)
		if len(facts) != 1 {
			t.Fatalf("plumbctl %v: %d facts, want 1: %+v", args, len(facts), facts)
		}
		s, _ := facts[0].Attributes["sha256"].(string)
		return s
	}
	waitSha := func(want, what string) {
		t.Helper()
		waitFor(t, 15*time.Second, what, func() bool {
			var facts []factAttrsJSON
			out, _, err := ctlResult(c.addr, "-o", "json", "facts", "--host", host, "--kind", "file", "--key", file)
			if err != nil || json.Unmarshal([]byte(out), &facts) != nil || len(facts) != 1 {
				return false
			}
			return facts[0].Attributes["sha256"] == want
		})
	}
	const v0, v1, v2 = "a\n", "first version\n", "second version\n"
	if got := shaOf(""); got != sha256Hex(v0) {
		t.Fatalf("baseline sha256 %s, want %s", got, sha256Hex(v0))
	}
	stamp := func() string {
		// Times strictly between the changes, on the collector's clock
		// (the same machine's).
		time.Sleep(20 * time.Millisecond)
		s := time.Now().UTC().Format(time.RFC3339Nano)
		time.Sleep(20 * time.Millisecond)
		return s
	}
	t0 := stamp()
	writeFile(t, file, v1)
	waitSha(sha256Hex(v1), "the first change at the collector")
	t1 := stamp()
	writeFile(t, file, v2)
	waitSha(sha256Hex(v2), "the second change at the collector")
	t2 := stamp()

	for _, c := range []struct{ at, want, name string }{
		{t0, v0, "before the first change"},
		{t1, v1, "between the changes"},
		{t2, v2, "after the second change"},
	} {
		if got := shaOf(c.at); got != sha256Hex(c.want) {
			t.Errorf("facts --at %s (%s): sha256 %s, want %s (of %q)", c.at, c.name, got, sha256Hex(c.want), c.want)
		}
	}

	var changes []struct {
		Key    string         `json:"key"`
		Before *factAttrsJSON `json:"before"`
		After  *factAttrsJSON `json:"after"`
	}
	ctlJSON(t, c.addr, &changes, "facts", "--host", host, "--changed-since", t0, "--until", t1)
	if len(changes) != 1 || changes[0].Key != file || changes[0].Before == nil || changes[0].After == nil ||
		changes[0].Before.Attributes["sha256"] != sha256Hex(v0) || changes[0].After.Attributes["sha256"] != sha256Hex(v1) {
		t.Errorf("facts --changed-since t0 --until t1: %+v, want %s from %s to %s", changes, file, sha256Hex(v0), sha256Hex(v1))
	}
	ctlJSON(t, c.addr, &changes, "facts", "--host", host, "--changed-since", t2)
	if len(changes) != 0 {
		t.Errorf("facts --changed-since t2: %+v, want none", changes)
	}

	// An accept by a named operator token, then a silence by the admin.
	tok := apiToken(t, c, "operator", "alice")
	ctl(t, c.addr, "--token", tok, "accept", "--host", host, "--reason", "e2e: second version approved")
	ctl(t, c.addr, "silence", "create", "--host", host, "--for", "1h", "--reason", "e2e: maintenance")

	var hist []historyEntryJSON
	ctlJSON(t, c.addr, &hist, "history", "--host", host)
	want := []struct{ action, actor, reason string }{
		{"drift.opened", "agent", ""},
		{"drift.updated", "agent", ""},
		{"drift.accepted", "alice", "e2e: second version approved"},
		{"silence.create", "", "e2e: maintenance"},
	}
	if len(hist) != len(want) {
		t.Fatalf("history --host %s: %d entries, want %d: %+v", host, len(hist), len(want), hist)
	}
	var last time.Time
	for i, w := range want {
		e := hist[i]
		if e.Action != w.action || (w.actor != "" && e.Actor != w.actor) || e.Actor == "" || e.Reason != w.reason || e.Host != host {
			t.Errorf("history[%d] = %+v, want action %s actor %q reason %q", i, e, w.action, w.actor, w.reason)
		}
		at, err := time.Parse(time.RFC3339Nano, e.At)
		if err != nil || at.Before(last) {
			t.Errorf("history[%d] at %q: not in order (previous %v)", i, e.At, last)
		}
		last = at
	}
	// Three transitions (opened, updated, accepted), one item closed after
	// it had been open since the first change; nothing open: score 0.
	var stats struct {
		Hosts []struct {
			ID          string  `json:"id"`
			Score       uint64  `json:"score"`
			Open        uint64  `json:"open"`
			Transitions uint64  `json:"transitions"`
			Resolved    uint64  `json:"resolved"`
			MTTR        float64 `json:"mean_time_to_resolve_seconds"`
		} `json:"hosts"`
		Groups []struct {
			ID    string `json:"id"`
			Hosts uint32 `json:"hosts"`
		} `json:"groups"`
	}
	ctlJSON(t, c.addr, &stats, "stats", "--host", host)
	opened, _ := time.Parse(time.RFC3339Nano, hist[0].At)
	accepted, _ := time.Parse(time.RFC3339Nano, hist[2].At)
	if len(stats.Hosts) != 1 || stats.Hosts[0].ID != host || stats.Hosts[0].Transitions != 3 || stats.Hosts[0].Resolved != 1 ||
		stats.Hosts[0].Open != 0 || stats.Hosts[0].Score != 0 ||
		time.Duration(stats.Hosts[0].MTTR*float64(time.Second)).Round(time.Millisecond) != accepted.Sub(opened).Round(time.Millisecond) ||
		len(stats.Groups) != 1 || stats.Groups[0].Hosts != 1 {
		t.Errorf("stats --host %s: %+v; want 3 transitions, 1 resolved after %v, nothing open", host, stats, accepted.Sub(opened))
	}

	// The table names the same actors and actions, one line each.
	table := ctl(t, c.addr, "history", "--host", host)
	t.Logf("plumbctl history --host %s:\n%s", host, table)
	if lines := strings.Split(strings.TrimSpace(table), "\n"); len(lines) != 1+len(want) ||
		!strings.Contains(lines[3], "alice") || !strings.Contains(lines[3], "drift.accepted") || !strings.Contains(lines[1], "file "+file) {
		t.Errorf("plumbctl history table:\n%s", table)
	}
	statsTable := ctl(t, c.addr, "stats")
	if !strings.Contains(statsTable, host) {
		t.Errorf("plumbctl stats table does not name %s:\n%s", host, statsTable)
	}

	// The first two entries are the file's changes; nothing from before t0.
	var since []historyEntryJSON
	ctlJSON(t, c.addr, &since, "history", "--host", host, "--since", t1)
	if len(since) != len(want)-1 || since[0].Action != "drift.updated" {
		t.Errorf("history --since t1: %+v, want the last %d entries", since, len(want)-1)
	}
}
