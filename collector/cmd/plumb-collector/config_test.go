package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/plumb-dev/plumb/collector/limits"
	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/config"
)

func load(t *testing.T, file string, args ...string) (*Config, error) {
	t.Helper()
	cfg := NewConfig()
	fs := pflag.NewFlagSet("plumb-collector", pflag.ContinueOnError)
	cfg.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := config.Load(cfg, file, fs, flagKeys); err != nil {
		return nil, err
	}
	return cfg, cfg.Validate()
}

func TestPackagedConfigLoads(t *testing.T) {
	cfg, err := load(t, "../../../packaging/config/collector.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "0.0.0.0:7700" || cfg.DataDir != "/var/lib/plumb/collector" || cfg.Insecure || cfg.HTTPListen != "" {
		t.Fatalf("packaged config: %+v", cfg)
	}
}

func TestWebhookFlagsBecomeNotifiers(t *testing.T) {
	cfg, err := load(t, "", "--insecure", "--webhook-url", "http://a.example/h", "--webhook-url", "https://b.example/h")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Webhooks) != 2 || cfg.Webhooks[0]["url"] != "http://a.example/h" {
		t.Fatalf("webhooks %v", cfg.Webhooks)
	}
	if cfg.Webhooks[0]["name"] == cfg.Webhooks[1]["name"] {
		t.Fatal("two webhook URLs share a name (and so a delivery cursor)")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--insecure", "--webhook-secret", "whsec_x"}, "needs --webhook-url"},
		{[]string{"--insecure", "--listen", "nope"}, "listen"},
		{[]string{"--insecure", "--http-listen", "nope"}, "http_listen"},
		{[]string{"--cert-ttl", "0s"}, "cert_ttl"},
		{[]string{"--insecure", "--pprof-listen", "0.0.0.0:6060"}, "must be a loopback address"},
		{[]string{"--insecure", "--pprof-listen", "6060"}, "pprof_listen"},
	} {
		if _, err := load(t, "", tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestLimitsOverlayDefaults(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	yaml := "insecure: true\nlimits:\n  max_facts_per_host: 100\n  hello_timeout: 3s\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := load(t, file)
	if err != nil {
		t.Fatal(err)
	}
	want := limits.NewDefaults()
	want.MaxFactsPerHost = 100
	want.HelloTimeout = 3 * time.Second
	if cfg.Limits != want {
		t.Fatalf("limits %+v\nwant %+v", cfg.Limits, want)
	}
	if err := os.WriteFile(file, []byte("insecure: true\nlimits:\n  max_connections: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := load(t, file); err == nil || !strings.Contains(err.Error(), "max_connections") {
		t.Fatalf("a zero limit: %v", err)
	}
	if err := os.WriteFile(file, []byte("insecure: true\nlimits:\n  max_factz: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := load(t, file); err == nil {
		t.Fatal("an unknown limit was accepted")
	}
}

func TestSeverityRulesFromConfig(t *testing.T) {
	dir := t.TempDir()
	good := dir + "/good.yaml"
	if err := os.WriteFile(good, []byte("severity:\n  - {kind: file, key: \"/srv/app/**\", severity: critical}\n  - {key: \"net.ipv4.ip_forward\", severity: warning}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := load(t, good)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kind plumbv1.FactKind
		key  string
		want plumbv1.Severity
	}{
		{plumbv1.FactKind_FACT_KIND_FILE, "/srv/app/config.yml", plumbv1.Severity_SEVERITY_CRITICAL},
		{plumbv1.FactKind_FACT_KIND_SYSCTL, "net.ipv4.ip_forward", plumbv1.Severity_SEVERITY_WARNING},
		{plumbv1.FactKind_FACT_KIND_FILE, "/etc/shadow", plumbv1.Severity_SEVERITY_CRITICAL}, // a default
		{plumbv1.FactKind_FACT_KIND_FILE, "/srv/other", plumbv1.Severity_SEVERITY_INFO},
	} {
		if got := cfg.severityRules.Of(tc.kind, []byte(tc.key)); got != tc.want {
			t.Errorf("%v %s: %v, want %v", tc.kind, tc.key, got, tc.want)
		}
	}
	for name, yaml := range map[string]string{
		"bad level": "severity: [{key: \"**\", severity: urgent}]\n",
		"bad kind":  "severity: [{kind: files, key: \"**\", severity: info}]\n",
		"no key":    "severity: [{kind: file, severity: info}]\n",
		"bad glob":  "severity: [{key: \"[\", severity: info}]\n",
	} {
		p := dir + "/" + strings.ReplaceAll(name, " ", "_") + ".yaml"
		if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := load(t, p); err == nil || !strings.Contains(err.Error(), "severity[0]") {
			t.Errorf("%s: %v, want an error naming severity[0]", name, err)
		}
	}
}

func TestHealthStaleAfter(t *testing.T) {
	cfg, err := load(t, "", "--insecure")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Health.StaleAfter != DefaultStaleAfter {
		t.Errorf("default stale_after %v, want %v", cfg.Health.StaleAfter, DefaultStaleAfter)
	}
	dir := t.TempDir()
	for yaml, want := range map[string]string{
		"health: {stale_after: 3s}\n":    "",
		"health: {stale_after: 0s}\n":    "",
		"health: {stale_after: 10ms}\n":  "health.stale_after",
		"health: {stale_after: -1m}\n":   "health.stale_after",
		"health: {stale_afterr: 1m}\n":   "stale_afterr",
		"health: {stale_after: 9000h}\n": "health.stale_after",
	} {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte("insecure: true\n"+yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := load(t, p)
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: %v", yaml, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: err %v, want one naming %s", yaml, err, want)
		case want == "" && yaml == "health: {stale_after: 3s}\n" && cfg.Health.StaleAfter != 3*time.Second:
			t.Errorf("%q: stale_after %v", yaml, cfg.Health.StaleAfter)
		}
	}
}

func TestMaintenanceWindowsFromYAML(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	yaml := `insecure: true
maintenance:
  - name: patch-night
    schedule: "0 2 * * 6"
    duration: 2h
    timezone: Europe/Berlin
    labels: {env: prod}
    hosts: ["web-*"]
    kind: package
`
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := load(t, file)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.windows) != 1 || cfg.windows[0].Name != "patch-night" || cfg.windows[0].Duration != 2*time.Hour ||
		cfg.windows[0].Matcher.Labels["env"] != "prod" || cfg.windows[0].Matcher.Kind != plumbv1.FactKind_FACT_KIND_PACKAGE {
		t.Fatalf("windows %+v", cfg.windows)
	}

	bad := "insecure: true\nmaintenance:\n  - name: x\n    schedule: \"61 * * * *\"\n    duration: 1h\n    hosts: [\"*\"]\n"
	if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := load(t, file); err == nil || !strings.Contains(err.Error(), `maintenance[0] "x": schedule`) {
		t.Fatalf("bad schedule: %v", err)
	}
}

func TestStoreConfig(t *testing.T) {
	cfg, err := load(t, "", "--insecure")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.Backend != BackendBolt {
		t.Errorf("default backend %q, want bolt", cfg.Store.Backend)
	}
	cfg, err = load(t, "", "--insecure", "--store-dsn", "postgresql://plumb:pw@db/plumb")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.Backend != BackendPostgres || cfg.Store.DSN != "postgresql://plumb:pw@db/plumb" {
		t.Errorf("--store-dsn gave %+v, want backend postgres", cfg.Store)
	}
	dir := t.TempDir()
	for yaml, want := range map[string]string{
		"store: {backend: postgres, dsn: \"postgres://u:topsecret@db/plumb\"}\n": "",
		"store: {dsn: \"postgres://db/plumb\", connect_timeout: 5s}\n":           "",
		"store: {backend: bolt}\n":                                      "",
		"store: {backend: postgres}\n":                                  "store.dsn",
		"store: {backend: postgres, dsn: \"mysql://u:topsecret@db\"}\n": "store.dsn",
		"store: {backend: bolt, dsn: \"postgres://db/plumb\"}\n":        "store.dsn",
		"store: {backend: sqlite}\n":                                    "store.backend",
		"store: {dsn: \"postgres://db/plumb\", connect_timeout: -1s}\n": "store.connect_timeout",
		"store: {dsnn: x}\n":                                            "dsnn",
	} {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte("insecure: true\n"+yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := load(t, p)
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: %v", yaml, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: err %v, want one naming %s", yaml, err, want)
		case err != nil && strings.Contains(err.Error(), "topsecret"):
			t.Errorf("%q: the error shows the password: %v", yaml, err)
		}
	}
}
