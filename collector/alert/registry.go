package alert

import (
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/go-viper/mapstructure/v2"
)

// Factory builds a notifier of one type from its configuration.
type Factory func(p Params) (Notifier, error)

// Params is what a Factory gets: the notifier's name, its section of the
// configuration and a logger that already carries the notifier's name.
type Params struct {
	Name string
	// Raw is the notifier's configuration entry without the "type" and
	// "name" keys, which Build has consumed.
	Raw    map[string]any
	Logger *slog.Logger
}

// Decode fills dst (a pointer to the notifier's config struct, with
// `koanf` tags) from Raw. Unknown keys are an error, so a typo in the
// configuration is reported at start-up rather than ignored; strings like
// "5s" decode into time.Duration fields.
func (p Params) Decode(dst any) error {
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result:           dst,
		TagName:          "koanf",
		ErrorUnused:      true,
		WeaklyTypedInput: true,
		DecodeHook:       mapstructure.StringToTimeDurationHookFunc(),
	})
	if err != nil {
		return fmt.Errorf("config decoder: %w", err)
	}
	return dec.Decode(p.Raw)
}

var (
	registryMu sync.Mutex
	registry   = map[string]Factory{} // guarded by registryMu
)

// Register makes a notifier type available under typeName, the value of
// the `type` key of a configuration entry. It is meant for init functions
// and panics on an empty name, a nil factory or a duplicate, so wiring
// mistakes fail at start-up.
func Register(typeName string, f Factory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if typeName == "" || f == nil {
		panic("alert: Register with empty type name or nil factory")
	}
	if _, dup := registry[typeName]; dup {
		panic("alert: Register called twice for " + typeName)
	}
	registry[typeName] = f
}

// Types returns the registered notifier type names, sorted.
func Types() []string {
	registryMu.Lock()
	defer registryMu.Unlock()
	return typesLocked()
}

func lookup(typeName string) (Factory, error) {
	registryMu.Lock()
	defer registryMu.Unlock()
	f, ok := registry[typeName]
	if !ok {
		return nil, fmt.Errorf("unknown notifier type %q (registered: %v)", typeName, typesLocked())
	}
	return f, nil
}

func typesLocked() []string {
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
