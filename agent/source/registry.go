package source

import (
	"fmt"
	"sort"
	"sync"

	"github.com/go-viper/mapstructure/v2"
)

// Options carry a source's configuration: its own section of the agent's
// YAML (sources.<name>), merged with flags.
type Options struct {
	// HostRoot is where the host's filesystem is mounted: "/" normally; a
	// fixture tree in tests. Sources read /proc, /var/lib/dpkg etc. under it.
	HostRoot string
	// Raw is the source's section, as parsed from YAML.
	Raw map[string]any
}

// Decode fills dst (a pointer to the source's options struct, with
// `koanf` tags) from Raw. Unknown keys are an error, so a typo in the
// config is reported at start-up rather than ignored.
func (o Options) Decode(dst any) error {
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result:           dst,
		TagName:          "koanf",
		ErrorUnused:      true,
		WeaklyTypedInput: true,
		DecodeHook:       mapstructure.StringToTimeDurationHookFunc(),
	})
	if err != nil {
		return err
	}
	return dec.Decode(o.Raw)
}

type registration struct {
	factory        Factory
	defaultEnabled bool
}

var (
	mu       sync.Mutex
	registry = map[string]registration{}
)

// Register makes a source available under name. It is meant for init
// functions, and panics on an empty name, a nil factory or a duplicate,
// so wiring mistakes fail at start-up.
func Register(name string, defaultEnabled bool, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if name == "" || f == nil {
		panic("source: Register with empty name or nil factory")
	}
	if _, dup := registry[name]; dup {
		panic("source: Register called twice for " + name)
	}
	registry[name] = registration{factory: f, defaultEnabled: defaultEnabled}
}

// Names returns the registered source names, sorted.
func Names() []string {
	mu.Lock()
	defer mu.Unlock()
	return namesLocked()
}

// DefaultEnabled reports whether name runs when the configuration does not
// say.
func DefaultEnabled(name string) bool {
	mu.Lock()
	defer mu.Unlock()
	return registry[name].defaultEnabled
}

func lookup(name string) (registration, error) {
	mu.Lock()
	defer mu.Unlock()
	r, ok := registry[name]
	if !ok {
		return r, fmt.Errorf("unknown source %q (registered: %v)", name, namesLocked())
	}
	return r, nil
}

func namesLocked() []string {
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
