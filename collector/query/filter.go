package query

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/bmatcuk/doublestar/v4"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/limits"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// Bounds on list filters.
const (
	maxSelectorBytes = 4096
	maxRequirements  = 32
	maxHostGlobBytes = 512
	maxKeyGlobBytes  = 4096
)

// requirement is one term of a label selector.
type requirement struct {
	key, value string
	op         byte // '=' equal, '!' not equal, 'e' exists, 'n' does not exist
}

// selector is a parsed label selector: every requirement must hold.
type selector []requirement

// parseSelector parses "k=v,k2!=v2,k3,!k4" (see ListHostsRequest).
func parseSelector(s string) (selector, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) > maxSelectorBytes || !utf8.ValidString(s) {
		return nil, fmt.Errorf("label_selector: at most %d bytes of UTF-8", maxSelectorBytes)
	}
	terms := strings.Split(s, ",")
	if len(terms) > maxRequirements {
		return nil, fmt.Errorf("label_selector: %d requirements, at most %d", len(terms), maxRequirements)
	}
	sel := make(selector, 0, len(terms))
	for _, t := range terms {
		t = strings.TrimSpace(t)
		var r requirement
		switch {
		case strings.Contains(t, "!="):
			r.key, r.value, _ = strings.Cut(t, "!=")
			r.op = '!'
		case strings.Contains(t, "="):
			r.key, r.value, _ = strings.Cut(t, "=")
			r.value = strings.TrimPrefix(r.value, "=") // k==v
			r.op = '='
		case strings.HasPrefix(t, "!"):
			r.key, r.op = t[1:], 'n'
		default:
			r.key, r.op = t, 'e'
		}
		r.key, r.value = strings.TrimSpace(r.key), strings.TrimSpace(r.value)
		if err := checkLabelTerm(t, r); err != nil {
			return nil, err
		}
		sel = append(sel, r)
	}
	return sel, nil
}

func checkLabelTerm(term string, r requirement) error {
	switch {
	case r.key == "":
		return fmt.Errorf("label_selector: %q: want key=value, key!=value, key or !key", term)
	case len(r.key) > limits.MaxLabelKeyBytes || len(r.value) > limits.MaxLabelValueBytes:
		return fmt.Errorf("label_selector: %q: a label key is at most %d bytes, a value %d", term, limits.MaxLabelKeyBytes, limits.MaxLabelValueBytes)
	case strings.ContainsAny(r.key, "=!"):
		return fmt.Errorf("label_selector: %q: want key=value, key!=value, key or !key", term)
	}
	return nil
}

// match reports whether labels satisfy every requirement.
func (sel selector) match(labels map[string]string) bool {
	for _, r := range sel {
		v, ok := labels[r.key]
		switch r.op {
		case '=':
			if !ok || v != r.value {
				return false
			}
		case '!':
			if ok && v == r.value {
				return false
			}
		case 'e':
			if !ok {
				return false
			}
		case 'n':
			if ok {
				return false
			}
		}
	}
	return true
}

// glob is a validated doublestar pattern; the zero glob matches anything.
type glob string

func parseGlob(field, s string, limit int) (glob, error) {
	switch {
	case s == "":
		return "", nil
	case len(s) > limit || !utf8.ValidString(s):
		return "", fmt.Errorf("%s: at most %d bytes of UTF-8", field, limit)
	case !doublestar.ValidatePattern(s):
		return "", fmt.Errorf("%s %q: not a valid glob", field, s)
	}
	return glob(s), nil
}

func (g glob) match(s string) bool {
	if g == "" {
		return true
	}
	ok, _ := doublestar.Match(string(g), s)
	return ok
}

// matchKey matches a fact key in its display form (fact.Display), as
// plumbctl prints it and a person types it.
func (g glob) matchKey(key []byte) bool {
	return g == "" || g.match(fact.Display(key))
}

func checkKind(k plumbv1.FactKind) error {
	if _, ok := plumbv1.FactKind_name[int32(k)]; !ok {
		return fmt.Errorf("kind %d: unknown", k)
	}
	return nil
}

// hostFilter is ListHostsRequest's filters, validated.
type hostFilter struct {
	labels selector
	state  plumbv1.HostState
	ids    glob
}

func parseHostFilter(req *plumbv1.ListHostsRequest) (hostFilter, error) {
	var errs []error
	var f hostFilter
	var err error
	if f.labels, err = parseSelector(req.GetLabelSelector()); err != nil {
		errs = append(errs, err)
	}
	if f.ids, err = parseGlob("host_glob", req.GetHostGlob(), maxHostGlobBytes); err != nil {
		errs = append(errs, err)
	}
	f.state = req.GetState()
	if _, ok := plumbv1.HostState_name[int32(f.state)]; !ok {
		errs = append(errs, fmt.Errorf("state %d: unknown", f.state))
	}
	return f, errors.Join(errs...)
}

// driftFilter is ListDriftRequest's filters, validated.
type driftFilter struct {
	labels       selector
	kind         plumbv1.FactKind
	keys         glob
	statuses     map[plumbv1.DriftStatus]bool // nil: any
	minSeverity  plumbv1.Severity
	since, until int64
}

func parseDriftFilter(req *plumbv1.ListDriftRequest) (driftFilter, error) {
	var errs []error
	f := driftFilter{kind: req.GetKind(), minSeverity: req.GetMinSeverity(),
		since: req.GetSinceUnixNano(), until: req.GetUntilUnixNano()}
	var err error
	if f.labels, err = parseSelector(req.GetLabelSelector()); err != nil {
		errs = append(errs, err)
	}
	if f.keys, err = parseGlob("key_glob", req.GetKeyGlob(), maxKeyGlobBytes); err != nil {
		errs = append(errs, err)
	}
	if err := checkKind(f.kind); err != nil {
		errs = append(errs, err)
	}
	if _, ok := plumbv1.Severity_name[int32(f.minSeverity)]; !ok {
		errs = append(errs, fmt.Errorf("min_severity %d: unknown", f.minSeverity))
	}
	switch {
	case f.since < 0 || f.until < 0:
		errs = append(errs, fmt.Errorf("since_unix_nano %d, until_unix_nano %d: want 0 (open) or a time", f.since, f.until))
	case f.until != 0 && f.since > f.until:
		errs = append(errs, fmt.Errorf("since_unix_nano %d is after until_unix_nano %d", f.since, f.until))
	}
	const (
		open     = plumbv1.DriftStatus_DRIFT_STATUS_OPEN
		resolved = plumbv1.DriftStatus_DRIFT_STATUS_RESOLVED
		accepted = plumbv1.DriftStatus_DRIFT_STATUS_ACCEPTED
	)
	state := req.GetState()
	if req.GetIncludeClosed() && state != plumbv1.DriftState_DRIFT_STATE_UNSPECIFIED && state != plumbv1.DriftState_DRIFT_STATE_ALL {
		errs = append(errs, fmt.Errorf("include_closed with state %s: include_closed is the old spelling of DRIFT_STATE_ALL; give one of them", state))
	}
	switch state {
	case plumbv1.DriftState_DRIFT_STATE_UNSPECIFIED:
		if !req.GetIncludeClosed() {
			f.statuses = map[plumbv1.DriftStatus]bool{open: true}
		}
	case plumbv1.DriftState_DRIFT_STATE_OPEN:
		f.statuses = map[plumbv1.DriftStatus]bool{open: true}
	case plumbv1.DriftState_DRIFT_STATE_RESOLVED:
		f.statuses = map[plumbv1.DriftStatus]bool{resolved: true}
	case plumbv1.DriftState_DRIFT_STATE_ACCEPTED:
		f.statuses = map[plumbv1.DriftStatus]bool{accepted: true}
	case plumbv1.DriftState_DRIFT_STATE_CLOSED:
		f.statuses = map[plumbv1.DriftStatus]bool{resolved: true, accepted: true}
	case plumbv1.DriftState_DRIFT_STATE_ALL:
	default:
		errs = append(errs, fmt.Errorf("state %d: unknown", state))
	}
	return f, errors.Join(errs...)
}

// match reports whether it passes the filters other than host and labels
// (which the caller judges per host).
func (f driftFilter) match(it *plumbv1.DriftItem) bool {
	switch {
	case f.statuses != nil && !f.statuses[it.GetStatus()]:
		return false
	case it.GetSeverity() < f.minSeverity:
		return false
	case f.since != 0 && it.GetUpdatedUnixNano() < f.since:
		return false
	case f.until != 0 && it.GetUpdatedUnixNano() >= f.until:
		return false
	}
	return f.keys.matchKey(it.GetKey())
}
