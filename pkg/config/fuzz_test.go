package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/knadh/koanf/parsers/yaml"
)

// encode renders c as the YAML file that should load back to c.
func encode(t *testing.T, c *testConfig) []byte {
	t.Helper()
	paths := make([]any, len(c.Nested.Paths))
	for i, p := range c.Nested.Paths {
		paths[i] = p
	}
	labels := map[string]any{}
	for k, v := range c.Labels {
		labels[k] = v
	}
	b, err := yaml.Parser().Marshal(map[string]any{
		"name":   c.Name,
		"count":  c.Count,
		"wait":   c.Wait.String(),
		"labels": labels,
		"nested": map[string]any{"paths": paths},
	})
	if err != nil {
		t.Fatalf("encode %+v: %v", c, err)
	}
	return b
}

// FuzzLoad feeds arbitrary files to LoadBytes: it never panics, its
// errors name the file, and a file it accepts, written back out from the
// struct it filled, loads to the same struct.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"good.yaml", "bad-syntax.yaml", "bad-type.yaml", "unknown-key.yaml"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"", "---\n", "null", "[]", "name: 12\n", "wait: -1h\n", "wait: 5\n", "count: 1.5\n",
		"labels: {a::b: c}\n", "labels: {\"\": x}\n", "nested: {paths: \"a,b\"}\n", "nested: null\n",
		"name: &a x\nlabels: {k: *a}\n", "name: !!binary aGk=\n", "count: 0x10\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := defaults()
		err := LoadBytes(c, "fuzz.yaml", data, nil, keys)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		again := defaults()
		out := encode(t, c)
		if err := LoadBytes(again, "again.yaml", out, nil, keys); err != nil {
			t.Fatalf("%q loaded to %+v, written as %q, which fails: %v", data, c, out, err)
		}
		if diff := cmp.Diff(c, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("%q loaded, written as %q and loaded again differs (-first +again):\n%s", data, out, diff)
		}
	})
}
