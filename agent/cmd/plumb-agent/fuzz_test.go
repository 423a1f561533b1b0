package main

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/agent/endpoint"
	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/pkg/config"
)

// FuzzConfig loads arbitrary agent config files as plumb-agent does: the
// YAML, then Validate, then the logger and every enabled source's
// options. None may panic; a config Validate accepts keeps Validate's
// promises, and validating it again gives the same answer.
func FuzzConfig(f *testing.F) {
	packaged, err := os.ReadFile("../../../packaging/config/agent.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(packaged)
	for _, s := range []string{
		"", "insecure: true\n",
		"join_token: pjt.0123456789abcdef.x\nca_pin: sha256:" + strings.Repeat("ab", 32) + "\n",
		"insecure: true\nca_pin: sha256:12\n",
		"insecure: true\nhost_root: relative\n",
		"insecure: true\nspool_limit_mib: -1\nreconnect_max: 1ms\n",
		"insecure: true\nlabels: {role: web, \"\": x}\n",
		"insecure: true\nsources: {file: {enabled: true, paths: [/etc, /srv]}, dpkg: {enabled: false}}\n",
		"insecure: true\nsources: {file: {enabled: yes}}\n",
		"insecure: true\nsources: {nope: {}}\n",
		"insecure: true\nsources: {kernel: {sysctl_ignore: [a, b]}, rpm: {bogus: 1}}\n",
		"insecure: true\nsources: {file: null}\n",
		"insecure: true\nsources: {file: {paths: 7}}\n",
		"insecure: true\nlog_level: loud\nlog_format: xml\n",
		"insecure: true\nreconnect_max: 1e9\n",
		"insecure: true\ncollector: \"a:1, b:2\"\n",
		"insecure: true\ncollector: [a:1, \"[::1]:2\", \"c:3,d:4\"]\nack_timeout: 5s\n",
		"insecure: true\ncollector: [a:1, A:1]\n",
	} {
		f.Add([]byte(s))
	}
	root := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := NewConfig()
		if err := config.LoadBytes(cfg, "agent.yaml", data, nil, flagKeys); err != nil {
			return
		}
		enabled, err := cfg.Validate()
		again, err2 := cfg.Validate()
		if (err == nil) != (err2 == nil) || !reflect.DeepEqual(enabled, again) {
			t.Fatalf("Validate twice: %v then %v; sources %v then %v", err, err2, enabled, again)
		}
		if err != nil {
			return
		}
		if _, perr := endpoint.Parse(cfg.Collector); perr != nil || len(cfg.Collector) == 0 || cfg.AckTimeout < time.Second || cfg.StateDir == "" || !filepath.IsAbs(cfg.HostRoot) ||
			cfg.SpoolLimitMiB <= 0 || cfg.ReconnectMax < 200*time.Millisecond {
			t.Fatalf("Validate accepted %+v", cfg)
		}
		for name, opts := range enabled {
			if !contains(source.Names(), name) || opts.HostRoot != cfg.HostRoot {
				t.Fatalf("Validate enabled %q with %+v", name, opts)
			}
			opts.HostRoot = root // never the real host
			enabled[name] = opts
		}
		logger, err := config.NewLogger(io.Discard, cfg.LogLevel, cfg.LogFormat)
		if err != nil {
			return
		}
		if _, err := source.Build(logger, enabled); err != nil && err.Error() == "" {
			t.Fatal("source.Build failed without a message")
		}
	})
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
