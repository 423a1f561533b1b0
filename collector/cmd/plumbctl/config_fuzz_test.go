package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/spf13/pflag"
)

// loadFile resolves plumbctl's options from the config file at path and no
// flags or environment.
func loadFile(t *testing.T, path string) (options, error) {
	t.Helper()
	var configFile string
	fs := pflag.NewFlagSet("plumbctl", pflag.ContinueOnError)
	addGlobalFlags(fs, &configFile)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	return loadOptions(fs, path, func(string) (string, bool) { return "", false })
}

// FuzzConfigFile loads arbitrary plumbctl config files. It must not panic;
// what it accepts passes validate, and written back out as YAML loads to
// the same options.
func FuzzConfigFile(f *testing.F) {
	for _, s := range []string{
		"", "collector: file:1\ninsecure: true\noutput: json\ntimeout: 3s\n",
		"colour: blue\n", "timeout: 5\n", "output: yaml\n", "collector: \"  \"\n",
		"collector: [a, b]\n", "insecure: yes\n", "timeout: 1e3s\n", "- a\n", "{",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "plumbctl.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		o, err := loadFile(t, path)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("error without a message")
			}
			return
		}
		if strings.TrimSpace(o.Collector) == "" || (o.Output != outputTable && o.Output != outputJSON) || o.Timeout < time.Millisecond {
			t.Fatalf("%q accepted as %+v", data, o)
		}
		out, err := yaml.Parser().Marshal(map[string]any{
			"collector": o.Collector, "insecure": o.Insecure, "output": o.Output, "timeout": o.Timeout.String(),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, out, 0o600); err != nil {
			t.Fatal(err)
		}
		again, err := loadFile(t, path)
		if err != nil || again != o {
			t.Fatalf("%q loaded as %+v, written as %q, loaded again as %+v, %v", data, o, out, again, err)
		}
	})
}
