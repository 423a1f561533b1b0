package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// options are plumbctl's global settings. Each comes from, in rising
// precedence: its default, the --config file, the environment
// (PLUMB_COLLECTOR only) and the command line.
type options struct {
	Collector string        `koanf:"collector"`
	Insecure  bool          `koanf:"insecure"`
	Output    string        `koanf:"output"`
	Timeout   time.Duration `koanf:"timeout"`
	CAFile    string        `koanf:"ca_file"`
	CAPin     string        `koanf:"ca_pin"`
	Token     string        `koanf:"token"`
	TokenFile string        `koanf:"token_file"`
}

// Output formats.
const (
	outputTable = "table"
	outputJSON  = "json"
)

// envCollector overrides the config file's collector address.
const envCollector = "PLUMB_COLLECTOR"

// envToken is an API token; --token wins over it, and it over
// --token-file.
const envToken = "PLUMB_TOKEN"

// The packaged collector's files: plumbctl on the collector host finds
// the CA and the first admin token there without flags.
const (
	defaultCAFile    = "/var/lib/plumb/collector/ca.crt"
	defaultTokenFile = "/var/lib/plumb/collector/admin.token"
)

// configKeys are the keys a config file may set: the global flags except
// --config itself.
var configKeys = []string{"collector", "insecure", "output", "timeout", "ca_file", "ca_pin", "token", "token_file"}

func addGlobalFlags(fs *pflag.FlagSet, configFile *string) {
	fs.String("collector", "127.0.0.1:7700", "collector query address, host:port (env "+envCollector+")")
	fs.Bool("insecure", false, "use plaintext gRPC (only with a collector run with --insecure)")
	fs.String("ca-file", defaultCAFile, "the collector's CA certificate (its data dir's ca.crt)")
	fs.String("ca-pin", "", "trust the collector CA with this pin, sha256:<hex>, instead of --ca-file")
	fs.String("token", "", "API token (env "+envToken+"; visible to other local users in ps: prefer --token-file)")
	fs.String("token-file", defaultTokenFile, "file holding the API token")
	fs.StringP("output", "o", outputTable, "output format: table or json")
	fs.Duration("timeout", 10*time.Second, "deadline for each call to the collector")
	fs.StringVar(configFile, "config", "", "YAML file with collector, insecure, output, timeout, ca_file, ca_pin, token and token_file")
}

func lookupEnv(name string) (string, bool) { return os.LookupEnv(name) }

// loadOptions resolves the global options from flags (already parsed),
// the config file, if any, and the environment.
func loadOptions(flags *pflag.FlagSet, configFile string, getenv func(string) (string, bool)) (options, error) {
	k := koanf.New(".")
	if configFile != "" {
		if err := loadConfigFile(k, configFile); err != nil {
			return options{}, err
		}
	}
	if v, ok := getenv(envCollector); ok && v != "" {
		if err := k.Set("collector", v); err != nil {
			return options{}, fmt.Errorf("%s: %w", envCollector, err)
		}
	}
	if v, ok := getenv(envToken); ok && v != "" {
		if err := k.Set("token", v); err != nil {
			return options{}, fmt.Errorf("%s: %w", envToken, err)
		}
	}
	// Flags left at their default do not override the file or the
	// environment; --config is not an option.
	fp := posflag.ProviderWithFlag(flags, ".", k, func(f *pflag.Flag) (string, any) {
		if f.Name == "config" {
			return "", nil
		}
		return strings.ReplaceAll(f.Name, "-", "_"), posflag.FlagVal(flags, f)
	})
	if err := k.Load(fp, nil); err != nil {
		return options{}, fmt.Errorf("flags: %w", err)
	}
	var o options
	err := k.UnmarshalWithConf("", &o, koanf.UnmarshalConf{
		DecoderConfig: &mapstructure.DecoderConfig{
			DecodeHook:  mapstructure.StringToTimeDurationHookFunc(),
			ErrorUnused: true,
		},
	})
	if err != nil {
		return options{}, fmt.Errorf("config: %s", oneLine(err))
	}
	return o, o.validate()
}

// loadConfigFile merges a YAML config file into k, rejecting keys plumbctl
// does not know so that a typo is not silently ignored.
func loadConfigFile(k *koanf.Koanf, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	m, err := yaml.Parser().Unmarshal(b)
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	for key := range m {
		if !slices.Contains(configKeys, key) {
			return fmt.Errorf("config %s: unknown key %q (want %s)", path, key, strings.Join(configKeys, ", "))
		}
	}
	if err := k.Load(rawConfig(b), yaml.Parser()); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// rawConfig is a koanf provider for config bytes already read.
type rawConfig []byte

func (r rawConfig) ReadBytes() ([]byte, error) { return r, nil }

func (r rawConfig) Read() (map[string]any, error) {
	return nil, errors.New("raw config: parse it with a parser")
}

func (o options) validate() error {
	var errs []error
	if strings.TrimSpace(o.Collector) == "" {
		errs = append(errs, errors.New("collector address is empty"))
	}
	if o.Output != outputTable && o.Output != outputJSON {
		errs = append(errs, fmt.Errorf("output %q: want %s or %s", o.Output, outputTable, outputJSON))
	}
	if o.Timeout < time.Millisecond {
		// A bare number in YAML decodes as nanoseconds.
		errs = append(errs, fmt.Errorf("timeout %v: too short (give units, for example 10s)", o.Timeout))
	}
	return errors.Join(errs...)
}

// oneLine flattens the decoder's multi-line report into one line.
func oneLine(err error) string {
	var parts []string
	for _, l := range strings.Split(err.Error(), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasSuffix(l, "error(s):") {
			continue
		}
		parts = append(parts, l)
	}
	return strings.Join(parts, "; ")
}
