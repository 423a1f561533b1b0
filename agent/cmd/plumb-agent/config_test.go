package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/plumb-dev/plumb/pkg/config"
)

func load(t *testing.T, file string, args ...string) (*Config, error) {
	t.Helper()
	cfg := NewConfig()
	fs := pflag.NewFlagSet("plumb-agent", pflag.ContinueOnError)
	cfg.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := config.Load(cfg, file, fs, flagKeys); err != nil {
		return nil, err
	}
	_, err := cfg.Validate()
	return cfg, err
}

// The config the packages install must load as it is.
func TestPackagedConfigLoads(t *testing.T) {
	cfg, err := load(t, "../../../packaging/config/agent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Collector, ",") != "127.0.0.1:7700" || cfg.StateDir != "/var/lib/plumb/agent" {
		t.Fatalf("packaged config: %+v", cfg)
	}
}

func TestFlagsOverrideAndFold(t *testing.T) {
	cfg, err := load(t, "../../../packaging/config/agent.yaml",
		"--watch", "/srv", "--watch", "/opt", "--label", "role=web", "--sources", "file,kernel", "--state", "/tmp/s")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Sources["file"]["paths"]; strings.Join(got.([]string), ",") != "/srv,/opt" {
		t.Fatalf("--watch gave paths %v", got)
	}
	if cfg.Labels["role"] != "web" || cfg.StateDir != "/tmp/s" {
		t.Fatalf("flags not applied: %+v", cfg)
	}
	enabled, err := cfg.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := enabled["dpkg"]; ok || len(enabled) != 2 {
		t.Fatalf("--sources file,kernel enabled %v", enabled)
	}
}

func TestValidateErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--ca-pin", "sha256:abc"}, "want sha256:<64 hex digits>"},
		{[]string{"--insecure", "--join-token", "pjt.x.y"}, "drop --join-token"},
		{[]string{"--insecure", "--label", "novalue"}, "want key=value"},
		{[]string{"--insecure", "--sources", "nope"}, "unknown source"},
		{[]string{"--insecure", "--host-root", "relative"}, "must be absolute"},
		{[]string{"--insecure", "--spool-limit-mib", "0"}, "must be positive"},
		{[]string{"--insecure", "--ack-timeout", "10ms"}, "ack_timeout 10ms: must be at least 1s"},
		{[]string{"--insecure", "--collector", ""}, "at least one address required"},
		{[]string{"--insecure", "--collector", "a:7700,,b:7700"}, `collector address 2 "": empty`},
		{[]string{"--insecure", "--collector", "a:7700", "--collector", " "}, `collector address 2 " ": empty`},
		{[]string{"--insecure", "--collector", "a:7700,"}, `collector address 2 "": empty`},
		{[]string{"--insecure", "--collector", "a"}, `collector address 1 "a": want host:port`},
		{[]string{"--insecure", "--collector", "a:99999"}, "want a number from 1 to 65535"},
		{[]string{"--insecure", "--collector", "a b:1"}, "not an IP address or a DNS name"},
		{[]string{"--insecure", "--collector", "a:1", "--collector", "A:1"}, `collector address 2 "A:1": duplicate of address 1`},
		{[]string{"--insecure", "--pprof-listen", "0.0.0.0:6060"}, "must be a loopback address"},
		{[]string{"--insecure", "--pprof-listen", "6060"}, "pprof_listen"},
	} {
		_, err := load(t, "", tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want %q", tc.args, err, tc.want)
		}
	}
}

// Every form of the collector list gives the same addresses, and a single
// address behaves as it always did.
func TestCollectorListForms(t *testing.T) {
	dir := t.TempDir()
	n := 0
	file := func(body string) string {
		n++
		p := filepath.Join(dir, fmt.Sprintf("agent%d.yaml", n))
		if err := os.WriteFile(p, []byte("insecure: true\n"+body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, file string
		args       []string
		want       string
	}{
		{"default", "", nil, "127.0.0.1:7700"},
		{"one flag", "", []string{"--collector", "c1.example:7700"}, "c1.example:7700"},
		{"repeated flag", "", []string{"--collector", "c1.example:7700", "--collector", "[::1]:7701"}, "c1.example:7700,[::1]:7701"},
		{"comma flag", "", []string{"--collector", "c1.example:7700,c2.example:7700"}, "c1.example:7700,c2.example:7700"},
		{"both flag forms", "", []string{"--collector", "a:1,b:2", "--collector", "c:3"}, "a:1,b:2,c:3"},
		{"yaml string", file("collector: c1.example:7700\n"), nil, "c1.example:7700"},
		{"yaml comma string", file("collector: \"c1.example:7700, c2.example:7700\"\n"), nil, "c1.example:7700,c2.example:7700"},
		{"yaml list", file("collector:\n  - c1.example:7700\n  - 10.0.0.2:7700\n"), nil, "c1.example:7700,10.0.0.2:7700"},
		{"yaml plain comma string", file("collector: c1.example:7700, c2.example:7700\n"), nil, "c1.example:7700,c2.example:7700"},
		{"yaml flow list", file("collector: [a:1, b:2]\n"), nil, "a:1,b:2"},
		{"flag overrides yaml", file("collector: [a:1, b:2]\n"), []string{"--collector", "c:3"}, "c:3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file == "" {
				args = append([]string{"--insecure"}, args...)
			}
			cfg, err := load(t, tc.file, args...)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(cfg.Collector, ","); got != tc.want {
				t.Fatalf("collector %q, want %q", got, tc.want)
			}
		})
	}
	for _, body := range []string{"collector: \"\"\n", "collector: []\n", "collector: [a:1, \"\"]\n", "collector: [a:1, a:1]\n", "collector: {a: 1}\n"} {
		if _, err := load(t, file(body)); err == nil {
			t.Errorf("%q accepted", body)
		}
	}
}
