package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/plumb-dev/plumb/collector/auth"
	"github.com/plumb-dev/plumb/collector/golden"
	"github.com/plumb-dev/plumb/collector/limits"
	"github.com/plumb-dev/plumb/collector/severity"
	"github.com/plumb-dev/plumb/collector/silence"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/collector/store/postgres"
	"github.com/plumb-dev/plumb/pkg/config"
	"github.com/plumb-dev/plumb/pkg/pprofserver"
)

// Config is the collector's whole configuration: defaults from NewConfig,
// overlaid by the YAML file, overlaid by flags.
type Config struct {
	Listen         string        `koanf:"listen"`
	Insecure       bool          `koanf:"insecure"`
	DataDir        string        `koanf:"data_dir"`
	MetricsListen  string        `koanf:"metrics_listen"`
	PprofListen    string        `koanf:"pprof_listen"` // /debug/pprof on a loopback address; empty is off
	HTTPListen     string        `koanf:"http_listen"`  // the HTTP API and probes; empty is off
	LogLevel       string        `koanf:"log_level"`
	LogFormat      string        `koanf:"log_format"`
	EventRetention time.Duration `koanf:"event_retention"`
	// Notifiers receive drift events; Webhooks is the older name of the
	// same list, and the two are joined.
	Notifiers []map[string]any `koanf:"notifiers"`
	Webhooks  []map[string]any `koanf:"webhooks"`
	// CertTTL is the life of the client certificates agents get.
	CertTTL time.Duration `koanf:"cert_ttl"`
	// TLSNames are extra DNS names or IP addresses for the collector's
	// server certificate (the listen address, localhost and the host
	// name are always in it).
	TLSNames []string      `koanf:"tls_names"`
	Limits   limits.Limits `koanf:"limits"`

	// Health configures the gaps the collector raises about hosts.
	Health HealthConfig `koanf:"health"`

	// Store chooses the database: bbolt in the data directory (the
	// default) or PostgreSQL.
	Store StoreConfig `koanf:"store"`

	// Severity rules for drift items, before the shipped defaults.
	Severity []severity.Config `koanf:"severity"`
	// severityRules is Severity parsed by Validate.
	severityRules *severity.Rules

	// GroupBaseline says which facts group (golden) baselines never cover.
	GroupBaseline golden.Config `koanf:"group_baseline"`
	// groupExclusions is GroupBaseline parsed by Validate.
	groupExclusions *golden.Exclusions

	// Maintenance are recurring windows in which matching drift is
	// recorded but not sent.
	Maintenance []silence.WindowConfig `koanf:"maintenance"`
	// windows is Maintenance parsed by Validate.
	windows []*silence.Window

	// Flag-only conveniences folded into Webhooks by Validate.
	webhookURLs   []string
	webhookSecret string
	webhookGroup  []string // --webhook-group KEY=VALUE, grouping keys for --webhook-url
}

// HealthConfig configures the collector's own health items.
type HealthConfig struct {
	// StaleAfter is how long a host may go without a stream or a report
	// before its "reporting" health item opens; 0 turns that off.
	StaleAfter time.Duration `koanf:"stale_after"`
}

// StoreConfig chooses the collector's database.
type StoreConfig struct {
	// Backend is "bolt" (plumb.db in the data directory) or "postgres".
	// Empty: postgres when DSN is a postgres:// URL, else bolt.
	Backend string `koanf:"backend"`
	// DSN is the PostgreSQL URL, postgres://user:password@host/db.
	DSN string `koanf:"dsn"`
	// ConnectTimeout is how long start-up retries a PostgreSQL that does
	// not answer before failing.
	ConnectTimeout time.Duration `koanf:"connect_timeout"`
}

// The store backends.
const (
	BackendBolt     = "bolt"
	BackendPostgres = "postgres"
)

// DefaultStaleAfter is the default health.stale_after.
const DefaultStaleAfter = 10 * time.Minute

// NewConfig returns the defaults.
func NewConfig() *Config {
	return &Config{
		Listen:         "127.0.0.1:7700",
		DataDir:        "/var/lib/plumb/collector",
		LogLevel:       "info",
		LogFormat:      "text",
		EventRetention: store.DefaultEventRetention,
		CertTTL:        auth.DefaultCertTTL,
		Limits:         limits.NewDefaults(),
		Health:         HealthConfig{StaleAfter: DefaultStaleAfter},
		Store:          StoreConfig{ConnectTimeout: postgres.DefaultConnectTimeout},
	}
}

var flagKeys = map[string]string{
	"listen":                "listen",
	"insecure":              "insecure",
	"data":                  "data_dir",
	"metrics-listen":        "metrics_listen",
	"pprof-listen":          "pprof_listen",
	"http-listen":           "http_listen",
	"log-level":             "log_level",
	"log-format":            "log_format",
	"event-retention":       "event_retention",
	"cert-ttl":              "cert_ttl",
	"tls-name":              "tls_names",
	"store-dsn":             "store" + config.Delim + "dsn",
	"store-connect-timeout": "store" + config.Delim + "connect_timeout",
}

// AddFlags binds the flags to c.
func (c *Config) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", c.Listen, "gRPC address for agents and the query API, host:port")
	fs.BoolVar(&c.Insecure, "insecure", c.Insecure, "serve plaintext gRPC: no TLS, no agent enrollment, agents may claim any host id (API tokens are still required)")
	fs.StringVar(&c.DataDir, "data", c.DataDir, "directory for the collector's database (plumb.db)")
	fs.StringArrayVar(&c.webhookURLs, "webhook-url", nil, "send drift events as JSON to this URL (repeatable; adds to webhooks in the config file)")
	fs.StringVar(&c.webhookSecret, "webhook-secret", "", "Standard Webhooks signing secret (whsec_...) for --webhook-url")
	fs.StringArrayVar(&c.webhookGroup, "webhook-group", nil, "grouping for --webhook-url as KEY=DURATION or max_events=N, e.g. group_wait=1s (repeatable; keys as in a notifier's entry)")
	fs.StringVar(&c.HTTPListen, "http-listen", c.HTTPListen, "address for the HTTP/JSON API, /openapi.json, /healthz and /readyz, host:port, TLS as the gRPC port (empty: off)")
	fs.StringVar(&c.MetricsListen, "metrics-listen", c.MetricsListen, "address for Prometheus /metrics (empty: off)")
	fs.StringVar(&c.PprofListen, "pprof-listen", c.PprofListen, "loopback address for Go's /debug/pprof profiles (empty: off)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json")
	fs.DurationVar(&c.EventRetention, "event-retention", c.EventRetention, "keep delivered drift events this long")
	fs.DurationVar(&c.CertTTL, "cert-ttl", c.CertTTL, "life of agents' client certificates (they renew at two thirds of it)")
	fs.StringVar(&c.Store.DSN, "store-dsn", c.Store.DSN, "keep state in PostgreSQL at this postgres:// URL instead of bbolt in --data (the password is never logged)")
	fs.DurationVar(&c.Store.ConnectTimeout, "store-connect-timeout", c.Store.ConnectTimeout, "at start, retry a PostgreSQL that does not answer this long, then fail")
	fs.StringSliceVar(&c.TLSNames, "tls-name", c.TLSNames, "extra DNS name or IP address for the collector's certificate (repeatable)")
}

// Validate checks c and folds the flag conveniences into it.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen %q: %w", c.Listen, err))
	}
	if c.HTTPListen != "" {
		if _, _, err := net.SplitHostPort(c.HTTPListen); err != nil {
			errs = append(errs, fmt.Errorf("http_listen %q: %w", c.HTTPListen, err))
		}
	}
	if c.PprofListen != "" {
		if err := pprofserver.CheckAddr(c.PprofListen); err != nil {
			errs = append(errs, fmt.Errorf("pprof_listen: %w", err))
		}
	}
	if c.CertTTL < time.Second || c.CertTTL > 366*24*time.Hour {
		errs = append(errs, fmt.Errorf("cert_ttl %v: want 1s to 366 days", c.CertTTL))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir: required"))
	}
	if c.EventRetention <= 0 {
		errs = append(errs, fmt.Errorf("event_retention %v: must be positive", c.EventRetention))
	}
	if s := c.Health.StaleAfter; s != 0 && (s < time.Second || s > 30*24*time.Hour) {
		errs = append(errs, fmt.Errorf("health.stale_after %v: want 0 (off) or 1s to 30 days", s))
	}
	if err := c.Store.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Limits.Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, u := range c.webhookURLs {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("--webhook-url %q: want an http or https URL", u))
			continue
		}
		// Named after the URL, so its delivery cursor follows the URL
		// rather than the flag's position.
		sum := sha256.Sum256([]byte(u))
		w := map[string]any{"type": "webhook", "name": "webhook-" + hex.EncodeToString(sum[:4]), "url": u}
		if c.webhookSecret != "" {
			w["secret"] = c.webhookSecret
		}
		for _, kv := range c.webhookGroup {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				errs = append(errs, fmt.Errorf("--webhook-group %q: want KEY=VALUE", kv))
				continue
			}
			w[k] = v
		}
		c.Webhooks = append(c.Webhooks, w)
	}
	if rules, err := severity.Parse(c.Severity); err != nil {
		errs = append(errs, err)
	} else {
		c.severityRules = rules
	}
	if x, err := c.GroupBaseline.Parse(); err != nil {
		errs = append(errs, err)
	} else {
		c.groupExclusions = x
	}
	if len(c.webhookGroup) > 0 && len(c.webhookURLs) == 0 {
		errs = append(errs, errors.New("--webhook-group needs --webhook-url"))
	}
	if ws, err := silence.ParseWindows(c.Maintenance, time.Now()); err != nil {
		errs = append(errs, err)
	} else {
		c.windows = ws
	}
	if c.webhookSecret != "" && len(c.webhookURLs) == 0 {
		errs = append(errs, errors.New("--webhook-secret needs --webhook-url"))
	}
	return errors.Join(errs...)
}

// validate settles the backend: a postgres:// DSN implies postgres.
func (s *StoreConfig) validate() error {
	if s.Backend == "" {
		s.Backend = BackendBolt
		if postgres.IsDSN(s.DSN) {
			s.Backend = BackendPostgres
		}
	}
	switch s.Backend {
	case BackendBolt:
		if s.DSN != "" {
			return fmt.Errorf("store.dsn: set, but store.backend is %q (a DSN needs backend postgres)", s.Backend)
		}
	case BackendPostgres:
		if !postgres.IsDSN(s.DSN) {
			return fmt.Errorf("store.dsn: want a postgres:// or postgresql:// URL for backend postgres, got %s", postgres.Redact(s.DSN))
		}
	default:
		return fmt.Errorf("store.backend %q: want %q or %q", s.Backend, BackendBolt, BackendPostgres)
	}
	if s.ConnectTimeout < 0 || s.ConnectTimeout > 24*time.Hour {
		return fmt.Errorf("store.connect_timeout %v: want 0 (default) to 24h", s.ConnectTimeout)
	}
	return nil
}

// notifierConfigs are the notifiers: entries, then the webhooks: ones
// (with --webhook-url's).
func (c *Config) notifierConfigs() []map[string]any {
	return append(append([]map[string]any(nil), c.Notifiers...), c.Webhooks...)
}
