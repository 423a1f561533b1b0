package alert

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
)

// DefaultType is the notifier type of a configuration entry without a
// `type` key.
const DefaultType = "webhook"

// Build turns the collector's `notifiers:` entries (`webhooks:` is an
// older name for the same list) into notifiers. Each
// entry names its type (`type`, default "webhook") and may name itself
// (`name`, default the type followed by the entry's index, "webhook0");
// the rest of the entry is the type's own configuration. Every problem in
// every entry is reported at once (errors.Join), each prefixed with the
// entry's index and name; on error no notifier is returned.
func Build(cfgs []map[string]any, logger *slog.Logger) ([]Notifier, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var (
		out  []Notifier
		errs []error
		seen = map[string]int{}
	)
	for i, cfg := range cfgs {
		n, err := buildOne(i, cfg, seen, logger)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, n)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func buildOne(i int, cfg map[string]any, seen map[string]int, logger *slog.Logger) (Notifier, error) {
	raw := maps.Clone(cfg)
	if raw == nil {
		raw = map[string]any{}
	}
	typ, err := popString(raw, "type", DefaultType)
	if err != nil {
		return nil, fmt.Errorf("notifiers[%d]: %w", i, err)
	}
	name, err := popString(raw, "name", typ+strconv.Itoa(i))
	if err != nil {
		return nil, fmt.Errorf("notifiers[%d]: %w", i, err)
	}
	prefix := fmt.Sprintf("notifiers[%d] %q", i, name)
	if err := validName(name); err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	if j, dup := seen[name]; dup {
		return nil, fmt.Errorf("%s: name already used by notifiers[%d]", prefix, j)
	}
	seen[name] = i
	var flt *filter
	if v, ok := raw["filter"]; ok {
		delete(raw, "filter")
		var fc FilterConfig
		m, isMap := v.(map[string]any)
		if !isMap {
			return nil, fmt.Errorf("%s: filter must be a mapping, not %T", prefix, v)
		}
		if err := (Params{Raw: m}).Decode(&fc); err != nil {
			return nil, fmt.Errorf("%s: filter: %w", prefix, err)
		}
		if flt, err = parseFilter(fc); err != nil {
			return nil, fmt.Errorf("%s: %w", prefix, err)
		}
	}
	grp, grpGiven, err := popGrouping(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	f, err := lookup(typ)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	n, err := f(Params{Name: name, Raw: raw, Logger: logger.With("notifier", name)})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	if n.Name() != name {
		return nil, fmt.Errorf("%s: type %q built a notifier named %q", prefix, typ, n.Name())
	}
	gn, groups := n.(GroupNotifier)
	if grpGiven && !groups {
		return nil, fmt.Errorf("%s: type %q does not group notifications (it sends each event; its receiver groups them), so group_wait, group_interval, critical_wait and max_events do not apply", prefix, typ)
	}
	if flt != nil {
		n = &filtered{Notifier: n, f: flt}
	}
	if groups {
		n = &grouped{Notifier: n, gn: gn, g: grp, f: flt}
	}
	return n, nil
}

// popString removes key from raw and returns its value, or def when it is
// absent or empty.
func popString(raw map[string]any, key, def string) (string, error) {
	v, ok := raw[key]
	delete(raw, key)
	if !ok || v == nil {
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s must be a string, not %T", key, v)
	}
	if s == "" {
		return def, nil
	}
	return s, nil
}

// validName keeps names usable as metric label values and as part of a
// cursor name: letters, digits, '.', '_' and '-', at most 64 bytes.
func validName(name string) error {
	if len(name) > 64 {
		return errors.New("name longer than 64 bytes")
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return fmt.Errorf("name may only hold letters, digits, '.', '_' and '-', not %q", r)
		}
	}
	return nil
}

// Inner returns the notifier its type built, beneath what Build wrapped
// around it for filtering and grouping.
func Inner(n Notifier) Notifier {
	for {
		switch w := n.(type) {
		case *grouped:
			n = w.gn
		case *filtered:
			n = w.Notifier
		default:
			return n
		}
	}
}
