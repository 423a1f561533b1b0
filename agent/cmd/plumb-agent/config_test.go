package main

import (
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
	if cfg.Collector != "127.0.0.1:7700" || cfg.StateDir != "/var/lib/plumb/agent" {
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
	} {
		_, err := load(t, "", tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want %q", tc.args, err, tc.want)
		}
	}
}
