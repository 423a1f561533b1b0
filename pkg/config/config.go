// Package config loads a binary's settings in one order for all three
// Plumb binaries: defaults (the struct as given), then the YAML file named
// by --config, then the flags set on the command line. Unknown keys in the
// file are an error, so a typo is reported rather than ignored.
package config

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// Delim separates nested keys. Not "." because label names and sysctl
// prefixes contain dots.
const Delim = "::"

// Load overlays dst (holding the defaults) with the YAML file at path, if
// path is not empty, and then with every flag in fs that was set
// explicitly. keys maps a flag name to its config key (nested with
// Delim); flags not in keys are not config (like --config itself).
func Load(dst any, path string, fs *pflag.FlagSet, keys map[string]string) error {
	if path == "" {
		return load(dst, "", nil, fs, keys)
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return load(dst, path, b, fs, keys)
}

// LoadBytes is Load with the YAML file's contents already read; name
// stands for the file in errors.
func LoadBytes(dst any, name string, data []byte, fs *pflag.FlagSet, keys map[string]string) error {
	if name == "" {
		name = "(config)"
	}
	return load(dst, name, data, fs, keys)
}

func load(dst any, path string, data []byte, fs *pflag.FlagSet, keys map[string]string) error {
	k := koanf.New(Delim)
	if path != "" {
		if err := k.Load(rawBytes(data), yaml.Parser()); err != nil {
			return fmt.Errorf("config file %s: %w", path, err)
		}
	}
	if fs != nil {
		err := k.Load(posflag.ProviderWithFlag(fs, Delim, k, func(f *pflag.Flag) (string, any) {
			key, ok := keys[f.Name]
			if !ok || !f.Changed {
				return "", nil
			}
			return key, posflag.FlagVal(fs, f)
		}), nil)
		if err != nil {
			return fmt.Errorf("flags: %w", err)
		}
	}
	err := k.UnmarshalWithConf("", dst, koanf.UnmarshalConf{
		Tag: "koanf",
		DecoderConfig: &mapstructure.DecoderConfig{
			Result:           dst,
			TagName:          "koanf",
			ErrorUnused:      true,
			WeaklyTypedInput: true,
			DecodeHook: mapstructure.ComposeDecodeHookFunc(
				mapstructure.StringToTimeDurationHookFunc(),
				mapstructure.StringToSliceHookFunc(","),
			),
		},
	})
	if err != nil {
		where := "flags"
		if path != "" {
			where = path
		}
		return fmt.Errorf("config %s: %s", where, cleanDecodeError(err))
	}
	return nil
}

// rawBytes is a koanf provider for a file already read.
type rawBytes []byte

func (r rawBytes) ReadBytes() ([]byte, error) { return r, nil }

func (r rawBytes) Read() (map[string]any, error) {
	return nil, errors.New("config: raw bytes need a parser")
}

// cleanDecodeError makes mapstructure's messages read as config errors.
func cleanDecodeError(err error) string {
	s := err.Error()
	s = strings.ReplaceAll(s, "'' has invalid keys", "unknown keys")
	s = strings.ReplaceAll(s, "has invalid keys", "has unknown keys")
	return s
}
