package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/plumb-dev/plumb/agent/endpoint"
	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/agent/state"
	"github.com/plumb-dev/plumb/agent/stream"
	"github.com/plumb-dev/plumb/pkg/pki"
	"github.com/plumb-dev/plumb/pkg/pprofserver"
)

// Config is the agent's whole configuration: defaults from NewConfig,
// overlaid by the YAML file, overlaid by flags.
type Config struct {
	// Collector lists the collectors' addresses, host:port each: the flag
	// repeated or comma-separated, in YAML a string (one address or
	// several, comma-separated) or a list. A DNS name that resolves to
	// several addresses counts as several collectors.
	Collector []string `koanf:"collector"`
	Insecure  bool     `koanf:"insecure"`
	// JoinToken and CAPin enroll the agent (first start, or after its
	// certificate expired or was revoked).
	JoinToken     string            `koanf:"join_token"`
	CAPin         string            `koanf:"ca_pin"`
	StateDir      string            `koanf:"state_dir"`
	HostID        string            `koanf:"host_id"`
	HostRoot      string            `koanf:"host_root"`
	Labels        map[string]string `koanf:"labels"`
	MetricsListen string            `koanf:"metrics_listen"`
	// PprofListen serves /debug/pprof on a loopback address; empty
	// (the default) is off.
	PprofListen   string `koanf:"pprof_listen"`
	LogLevel      string `koanf:"log_level"`
	LogFormat     string `koanf:"log_format"`
	SpoolLimitMiB int64  `koanf:"spool_limit_mib"`
	// ReconnectMax caps the delay between attempts to reach the
	// collector (jittered exponential backoff from 200ms).
	ReconnectMax time.Duration `koanf:"reconnect_max"`
	// AckTimeout is how long a collector may leave deltas unacknowledged
	// before the agent fails over to another (up, but its database down).
	AckTimeout time.Duration `koanf:"ack_timeout"`
	// Sources holds each source's section; `enabled` is read here, the
	// rest is the source's own options.
	Sources map[string]map[string]any `koanf:"sources"`

	// Flag-only conveniences folded into Sources by Validate.
	watch   []string
	only    []string
	labelKV []string
}

// NewConfig returns the defaults.
func NewConfig() *Config {
	return &Config{
		Collector:     []string{"127.0.0.1:7700"},
		StateDir:      "/var/lib/plumb/agent",
		HostRoot:      "/",
		LogLevel:      "info",
		LogFormat:     "text",
		SpoolLimitMiB: state.DefaultSpoolLimit >> 20,
		ReconnectMax:  30 * time.Second,
		AckTimeout:    stream.DefaultAckTimeout,
		Sources:       map[string]map[string]any{},
	}
}

// flagKeys maps flags to config keys (see config.Load).
var flagKeys = map[string]string{
	"collector":       "collector",
	"insecure":        "insecure",
	"join-token":      "join_token",
	"ca-pin":          "ca_pin",
	"state":           "state_dir",
	"host-id":         "host_id",
	"host-root":       "host_root",
	"metrics-listen":  "metrics_listen",
	"pprof-listen":    "pprof_listen",
	"log-level":       "log_level",
	"log-format":      "log_format",
	"spool-limit-mib": "spool_limit_mib",
	"reconnect-max":   "reconnect_max",
	"ack-timeout":     "ack_timeout",
}

// AddFlags binds the flags to c.
func (c *Config) AddFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&c.Collector, "collector", c.Collector,
		"collector address, host:port (repeatable, or comma-separated: the agent fails over between them; a DNS name with several addresses is several collectors)")
	fs.BoolVar(&c.Insecure, "insecure", c.Insecure, "use plaintext gRPC, without enrollment (only with a collector run with --insecure)")
	fs.StringVar(&c.JoinToken, "join-token", c.JoinToken, "join token from `plumbctl token create`, to enroll with the collector (needed once)")
	fs.StringVar(&c.CAPin, "ca-pin", c.CAPin, "the collector CA's pin, sha256:<hex> (printed by `plumbctl token create`)")
	fs.StringVar(&c.StateDir, "state", c.StateDir, "directory for the agent's state database and spool")
	fs.StringVar(&c.HostID, "host-id", c.HostID, "this host's id (default: /etc/machine-id, else the hostname)")
	fs.StringVar(&c.HostRoot, "host-root", c.HostRoot, "where the host's filesystem is mounted (for containers)")
	fs.StringArrayVar(&c.watch, "watch", nil, "path to watch recursively (repeatable; default /etc; overrides sources.file.paths)")
	fs.StringSliceVar(&c.only, "sources", nil, "run only these sources (comma-separated: "+strings.Join(source.Names(), ", ")+")")
	fs.StringArrayVar(&c.labelKV, "label", nil, "host label key=value (repeatable)")
	fs.StringVar(&c.MetricsListen, "metrics-listen", c.MetricsListen, "address for Prometheus /metrics (empty: off)")
	fs.StringVar(&c.PprofListen, "pprof-listen", c.PprofListen, "loopback address for Go's /debug/pprof profiles (empty: off)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json")
	fs.Int64Var(&c.SpoolLimitMiB, "spool-limit-mib", c.SpoolLimitMiB, "bound on unacknowledged deltas kept on disk, MiB")
	fs.DurationVar(&c.ReconnectMax, "reconnect-max", c.ReconnectMax, "longest wait between rounds of attempts to reach a collector")
	fs.DurationVar(&c.AckTimeout, "ack-timeout", c.AckTimeout, "fail over when a collector leaves deltas unacknowledged, or the agent's hello unanswered, this long")
}

// Validate checks c and folds the flag conveniences into it. It returns
// the enabled sources with their options.
func (c *Config) Validate() (map[string]source.Options, error) {
	var errs []error
	var addrs []string
	for _, a := range c.Collector {
		addrs = append(addrs, strings.Split(a, ",")...)
	}
	if addrs, err := endpoint.Parse(addrs); err != nil {
		errs = append(errs, err)
	} else {
		c.Collector = addrs
	}
	if c.Insecure && (c.JoinToken != "" || c.CAPin != "") {
		errs = append(errs, errors.New("--insecure uses plaintext and no enrollment: drop --join-token and --ca-pin, or drop --insecure"))
	}
	if c.CAPin != "" {
		if _, err := pki.ParsePin(c.CAPin); err != nil {
			errs = append(errs, err)
		}
	}
	if c.PprofListen != "" {
		if err := pprofserver.CheckAddr(c.PprofListen); err != nil {
			errs = append(errs, fmt.Errorf("pprof_listen: %w", err))
		}
	}
	if c.StateDir == "" {
		errs = append(errs, errors.New("state_dir: required"))
	}
	if c.HostRoot == "" {
		c.HostRoot = "/"
	}
	if !filepath.IsAbs(c.HostRoot) {
		errs = append(errs, fmt.Errorf("host_root %q: must be absolute", c.HostRoot))
	}
	if c.SpoolLimitMiB <= 0 {
		errs = append(errs, fmt.Errorf("spool_limit_mib %d: must be positive", c.SpoolLimitMiB))
	}
	if c.ReconnectMax < 200*time.Millisecond {
		errs = append(errs, fmt.Errorf("reconnect_max %v: must be at least 200ms", c.ReconnectMax))
	}
	if c.AckTimeout < time.Second {
		errs = append(errs, fmt.Errorf("ack_timeout %v: must be at least 1s", c.AckTimeout))
	}
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	for _, kv := range c.labelKV {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			errs = append(errs, fmt.Errorf("--label %q: want key=value", kv))
			continue
		}
		c.Labels[k] = v
	}
	if len(c.watch) > 0 {
		sec := c.section("file")
		sec["paths"] = c.watch
	}
	known := map[string]bool{}
	for _, n := range source.Names() {
		known[n] = true
	}
	for n := range c.Sources {
		if !known[n] {
			errs = append(errs, fmt.Errorf("sources.%s: unknown source (have %s)", n, strings.Join(source.Names(), ", ")))
		}
	}
	for _, n := range c.only {
		if !known[n] {
			errs = append(errs, fmt.Errorf("--sources %s: unknown source (have %s)", n, strings.Join(source.Names(), ", ")))
		}
	}
	enabled := map[string]source.Options{}
	for _, n := range source.Names() {
		raw := map[string]any{}
		on := source.DefaultEnabled(n)
		for k, v := range c.Sources[n] {
			if k == "enabled" {
				b, ok := v.(bool)
				if !ok {
					errs = append(errs, fmt.Errorf("sources.%s.enabled: want true or false, got %v", n, v))
				}
				on = b
				continue
			}
			raw[k] = v
		}
		if len(c.only) > 0 {
			on = slices.Contains(c.only, n)
		}
		if on {
			enabled[n] = source.Options{HostRoot: c.HostRoot, Raw: raw}
		}
	}
	return enabled, errors.Join(errs...)
}

func (c *Config) section(name string) map[string]any {
	if c.Sources[name] == nil {
		c.Sources[name] = map[string]any{}
	}
	return c.Sources[name]
}
