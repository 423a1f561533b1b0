package e2e

import (
	"os"
	"path/filepath"
	"testing"
)

// startSourcesAgent starts an agent that runs only sources (a
// comma-separated list, as --sources takes it), with extra flags such as
// --host-root or --config.
func startSourcesAgent(t *testing.T, collectorAddr, state, hostID, sources string, extra ...string) *proc {
	t.Helper()
	return start(t, "agent "+hostID, bin.agent, sourcesAgentArgs(t, collectorAddr, state, hostID, sources, extra...)...)
}

// sourcesAgentArgs are the flags of an agent that runs only sources.
func sourcesAgentArgs(t *testing.T, collectorAddr, state, hostID, sources string, extra ...string) []string {
	args := append(agentAuthArgs(t, collectorAddr), "--collector", collectorAddr, "--state", state, "--host-id", hostID,
		"--sources", sources, "--log-level", "debug")
	return append(args, extra...)
}

// writeAgentConfig writes an agent YAML config file into dir and returns
// its path.
func writeAgentConfig(t *testing.T, dir, yaml string) string {
	t.Helper()
	p := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// factJSON is one fact as `plumbctl facts -o json` prints it.
type factJSON struct {
	Kind       string         `json:"kind"`
	Key        string         `json:"key"`
	Digest     string         `json:"digest"`
	Attributes map[string]any `json:"attributes"`
}

// hostFacts returns host's facts of kind, by key, as plumbctl shows them.
func hostFacts(t *testing.T, addr, host, kind string) map[string]factJSON {
	t.Helper()
	var list []factJSON
	ctlJSON(t, addr, &list, "facts", "--host", host, "--kind", kind)
	out := make(map[string]factJSON, len(list))
	for _, f := range list {
		if f.Kind != kind {
			t.Fatalf("plumbctl facts --kind %s listed a %s fact: %s", kind, f.Kind, f.Key)
		}
		out[f.Key] = f
	}
	return out
}

// attr returns a fact attribute as text ("" when absent or not a string).
func (f factJSON) attr(name string) string {
	s, _ := f.Attributes[name].(string)
	return s
}

// eventAttr returns an attribute of an event's current (or, with
// baseline, its baseline) fact as text.
func eventAttr(ev event, baseline bool, name string) string {
	side := ev.Current
	if baseline {
		side = ev.Baseline
	}
	attrs, _ := side["attributes"].(map[string]any)
	s, _ := attrs[name].(string)
	return s
}
