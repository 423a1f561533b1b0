package main

import (
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/collector/alert"
	"github.com/plumb-dev/plumb/pkg/config"
)

// FuzzConfig loads arbitrary collector config files as plumb-collector
// does: the YAML, Validate, the logger and the webhooks. None may panic;
// a config Validate accepts keeps Validate's promises.
func FuzzConfig(f *testing.F) {
	packaged, err := os.ReadFile("../../../packaging/config/collector.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(packaged)
	for _, s := range []string{
		"", "insecure: true\n",
		"insecure: true\nlisten: nocolon\n",
		"insecure: true\nevent_retention: -1h\ndata_dir: \"\"\n",
		"insecure: true\nwebhooks: [{type: webhook, name: a, url: http://a.example/h}]\n",
		"insecure: true\nwebhooks: [{type: webhook, url: http://a.example/h}, {type: webhook, url: http://a.example/h}]\n",
		"insecure: true\nwebhooks: [{type: slack, name: s, url: ftp://x}]\n",
		"insecure: true\nwebhooks: [{type: 7}]\n",
		"insecure: true\nwebhooks: {a: b}\n",
		"insecure: true\nwebhooks: [null]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := NewConfig()
		if err := config.LoadBytes(cfg, "collector.yaml", data, nil, flagKeys); err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			return
		}
		if _, _, err := net.SplitHostPort(cfg.Listen); err != nil || cfg.DataDir == "" || cfg.EventRetention <= 0 || cfg.CertTTL < time.Second {
			t.Fatalf("Validate accepted %+v", cfg)
		}
		logger, err := config.NewLogger(io.Discard, cfg.LogLevel, cfg.LogFormat)
		if err != nil {
			return
		}
		notifiers, err := alert.Build(cfg.notifierConfigs(), logger)
		if err == nil && len(notifiers) != len(cfg.notifierConfigs()) {
			t.Fatalf("%d notifier entries built %d notifiers", len(cfg.notifierConfigs()), len(notifiers))
		}
	})
}
