// Package silence owns silences and maintenance windows: which drift is
// held back from notifiers, and when, and the summary of what was held
// back once a silence ends. Silences are created and expired through the
// API (SilenceService) and kept in the store with who did what; windows
// recur from the collector's configuration. Drift is always recorded and
// listed; only its notifications are held back, by the alert
// dispatcher asking the Book (alert.Silencer) about each event, judged on
// the event's own time and host so that re-reading the log after a
// restart decides the same.
package silence

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
)

// MaxDuration bounds one silence or window occurrence.
const MaxDuration = 30 * 24 * time.Hour

// Defaults of Options.
const (
	DefaultMaxActive = 1000
	DefaultMaxKept   = 10000
	DefaultTick      = 2 * time.Second
)

// Domain errors; the API maps them to gRPC codes.
var (
	ErrInvalid  = errors.New("invalid silence")
	ErrTooMany  = errors.New("too many active silences")
	ErrEnded    = errors.New("silence has already ended")
	ErrWindow   = errors.New("silence is an occurrence of a maintenance window")
	ErrNotFound = store.ErrNotFound
)

// Options configure a Book. Zero values take the defaults.
type Options struct {
	Windows []*Window
	Logger  *slog.Logger
	// Now is the collector clock (default time.Now).
	Now func() time.Time
	// MaxActive bounds silences that have not ended (default 1000).
	MaxActive int
	// MaxKept bounds ended, summarized silences kept for the audit trail
	// (default 10,000); the oldest go first.
	MaxKept int
	// Retention is how long an ended, summarized silence is kept (default
	// store.DefaultEventRetention).
	Retention time.Duration
	// Tick is how often Run looks for ended silences and starting windows
	// (default 2s).
	Tick time.Duration
	// Grace is how long after its end a silence is summarized, so that
	// events stamped inside it but committed just after are counted
	// (default 5s).
	Grace time.Duration
	// OnCommit is called after a commit that appended a summary event.
	OnCommit func()
	// Follow says other collectors write the same store: Run then reloads
	// the store's silences at each tick, so that one created or expired
	// through another collector holds here within a tick.
	Follow bool
	// NewID makes silence ids (default: "s-" and 16 random hex digits);
	// tests set it for stable output.
	NewID func() (string, error)
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxActive <= 0 {
		o.MaxActive = DefaultMaxActive
	}
	if o.MaxKept <= 0 {
		o.MaxKept = DefaultMaxKept
	}
	if o.Retention <= 0 {
		o.Retention = store.DefaultEventRetention
	}
	if o.Tick <= 0 {
		o.Tick = DefaultTick
	}
	if o.Grace <= 0 {
		o.Grace = 5 * time.Second
	}
	if o.NewID == nil {
		o.NewID = newID
	}
	if o.OnCommit == nil {
		o.OnCommit = func() {}
	}
}

// Book holds the collector's silences: the store's, mirrored in memory so
// that judging an event costs no transaction, and the configured windows.
// Its mutators hold mu across their commit, so an event is judged either
// wholly before a silence exists or wholly after.
type Book struct {
	st   store.Store
	opts Options

	mu sync.RWMutex
	// list is every stored silence, by start then id; guarded by mu. Its
	// records are never modified: a change replaces the pointer.
	list []*store.Silence
}

// Open loads the store's silences.
func Open(ctx context.Context, st store.Store, opts Options) (*Book, error) {
	opts.setDefaults()
	b := &Book{st: st, opts: opts}
	if err := b.Reload(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// Reload replaces the book's silences with the store's: what other
// collectors sharing the store created, expired, summarized or pruned. It
// holds mu across the read, as the mutators hold it across their commits,
// so that a concurrent Create is never lost from the list.
func (b *Book) Reload(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var list []*store.Silence
	err := b.st.View(ctx, func(tx store.ReadTx) error {
		list = list[:0]
		return tx.Silences(func(s *store.Silence) error {
			list = append(list, s)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("load silences: %w", err)
	}
	sortSilences(list)
	b.list = list
	return nil
}

func sortSilences(list []*store.Silence) {
	slices.SortFunc(list, func(a, b *store.Silence) int {
		if a.StartsAt != b.StartsAt {
			if a.StartsAt < b.StartsAt {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// matcherOf is a stored silence's matcher.
func matcherOf(s *store.Silence) Matcher {
	return Matcher{Hosts: s.Hosts, Labels: s.Labels, Kind: kindOf(s.Kind), Key: s.Key}
}

// Silenced reports whether ev is held back, and by which silence or
// window occurrence: the first, in start order, that was in force at the
// event's time and matches its host and fact. A summary event is never
// held back. It implements alert.Silencer.
func (b *Book) Silenced(ev *plumbv1.DriftEvent) (string, bool) {
	it := ev.GetItem()
	if ev.GetType() == plumbv1.DriftEventType_DRIFT_EVENT_TYPE_SILENCE_ENDED || it == nil {
		return "", false
	}
	at := ev.GetAtUnixNano()
	labels := b.labelsOnce(it.GetHostId())
	b.mu.RLock()
	for _, s := range b.list {
		if s.Window != "" || !s.ActiveAt(at) {
			continue // windows are judged by their schedule, below
		}
		if m := matcherOf(s); m.Match(it.GetHostId(), labels.get(m), it.GetKind(), it.GetKey()) {
			b.mu.RUnlock()
			return s.ID, true
		}
	}
	b.mu.RUnlock()
	t := time.Unix(0, at)
	for _, w := range b.opts.Windows {
		start, ok := w.occurrenceAt(t)
		if ok && w.Matcher.Match(it.GetHostId(), labels.get(w.Matcher), it.GetKind(), it.GetKey()) {
			return w.occurrenceID(start), true
		}
	}
	return "", false
}

// lazyLabels reads a host's labels from the store the first time a
// matcher needs them. A host that cannot be read has no labels: its
// drift is sent (a silence fails open).
type lazyLabels struct {
	b      *Book
	host   string
	done   bool
	labels map[string]string
}

func (b *Book) labelsOnce(host string) *lazyLabels { return &lazyLabels{b: b, host: host} }

func (l *lazyLabels) get(m Matcher) map[string]string {
	if !m.needsLabels() || l.done {
		return l.labels
	}
	l.done = true
	err := l.b.st.View(context.Background(), func(tx store.ReadTx) error {
		h, err := tx.Host(l.host)
		if err != nil {
			return err
		}
		l.labels = h.Labels
		return nil
	})
	if err != nil {
		l.b.opts.Logger.Debug("silence: host labels unreadable, matching without them", "host", l.host, "err", err)
	}
	return l.labels
}

// List returns the stored silences that have not ended, by start, with
// the ended ones too when includeEnded, and the current or next
// occurrence of each window not yet stored.
func (b *Book) List(includeEnded bool) []*store.Silence {
	now := b.opts.Now()
	b.mu.RLock()
	var out []*store.Silence
	have := map[string]bool{}
	for _, s := range b.list {
		have[s.ID] = true
		if includeEnded || s.End() > now.UnixNano() {
			out = append(out, s)
		}
	}
	b.mu.RUnlock()
	for _, w := range b.opts.Windows {
		start, ok := w.occurrenceAt(now)
		if !ok {
			start = w.next(now)
		}
		if start.IsZero() || have[w.occurrenceID(start)] {
			continue
		}
		o := w.occurrence(start, now)
		o.CreatedAt = 0 // not created yet: a preview of the configuration
		out = append(out, o)
	}
	sortSilences(out)
	return out
}

// Create records a silence from now for d, by the caller named by.
func (b *Book) Create(ctx context.Context, m Matcher, d time.Duration, reason, by string) (*store.Silence, error) {
	var errs []error
	if err := m.Validate(); err != nil {
		errs = append(errs, err)
	}
	if d <= 0 || d > MaxDuration {
		errs = append(errs, fmt.Errorf("duration %v: want more than 0 and at most %v", d, MaxDuration))
	}
	if err := checkReason(reason); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	id, err := b.opts.NewID()
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.opts.Now().UnixNano()
	active := 0
	for _, s := range b.list {
		if s.Window == "" && s.End() > now {
			active++
		}
	}
	if active >= b.opts.MaxActive {
		return nil, fmt.Errorf("%w: %d in force, at most %d; expire some first", ErrTooMany, active, b.opts.MaxActive)
	}
	s := &store.Silence{
		ID: id, Hosts: m.Hosts, Labels: m.Labels, Kind: int32(m.Kind), Key: m.Key,
		StartsAt: now, EndsAt: now + int64(d), Reason: reason, CreatedBy: by, CreatedAt: now,
	}
	err = b.st.Update(ctx, func(tx store.Tx) error {
		if err := tx.PutSilence(s); err != nil {
			return err
		}
		return store.Audit(tx, time.Unix(0, now), by, "silence.create", auditHost(s), s.ID+" "+m.String(), reason)
	})
	if err != nil {
		return nil, fmt.Errorf("create silence: %w", err)
	}
	b.list = append(b.list, s)
	sortSilences(b.list)
	b.opts.Logger.Info("silence created", "silence", s.ID, "by", by, "matcher", m.String(),
		"ends", time.Unix(0, s.EndsAt).UTC(), "reason", reason)
	return s, nil
}

func checkReason(reason string) error {
	switch {
	case strings.TrimSpace(reason) == "":
		return errors.New("reason: required (say why, for the audit trail and the summary)")
	case len(reason) > MaxReason:
		return fmt.Errorf("reason: longer than %d bytes", MaxReason)
	case !utf8.ValidString(reason):
		return errors.New("reason: not UTF-8")
	}
	return nil
}

// Expire ends silence id now, recording who did it.
func (b *Book) Expire(ctx context.Context, id, by string) (*store.Silence, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := slices.IndexFunc(b.list, func(s *store.Silence) bool { return s.ID == id })
	if i < 0 {
		return nil, fmt.Errorf("silence %q: %w", id, ErrNotFound)
	}
	s := b.list[i]
	if s.Window != "" {
		return nil, fmt.Errorf("%w %q: change the collector's maintenance: configuration instead", ErrWindow, s.Window)
	}
	now := b.opts.Now().UnixNano()
	if s.End() <= now {
		return nil, fmt.Errorf("silence %q: %w", id, ErrEnded)
	}
	c := *s
	c.ExpiredAt, c.ExpiredBy = now, by
	if c.StartsAt > now {
		c.ExpiredAt = c.StartsAt
	}
	err := b.st.Update(ctx, func(tx store.Tx) error {
		if err := tx.PutSilence(&c); err != nil {
			return err
		}
		return store.Audit(tx, time.Unix(0, now), by, "silence.expire", auditHost(&c), c.ID, c.Reason)
	})
	if err != nil {
		return nil, fmt.Errorf("expire silence: %w", err)
	}
	b.list[i] = &c
	b.opts.Logger.Info("silence expired", "silence", id, "by", by, "created_by", s.CreatedBy, "reason", s.Reason)
	return &c, nil
}

// auditHost is the host a silence's audit record is filed under: the one
// host its matcher names without a glob, "" (fleet-wide) otherwise.
func auditHost(s *store.Silence) string {
	if len(s.Hosts) == 1 && !strings.ContainsAny(s.Hosts[0], "*?[]{}\\") {
		return s.Hosts[0]
	}
	return ""
}

// replace swaps in a newer copy of a stored silence, or adds it.
func (b *Book) replace(s *store.Silence) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if i := slices.IndexFunc(b.list, func(o *store.Silence) bool { return o.ID == s.ID }); i >= 0 {
		b.list[i] = s
		return
	}
	b.list = append(b.list, s)
	sortSilences(b.list)
}

func (b *Book) snapshot() []*store.Silence {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return slices.Clone(b.list)
}

func newID() (string, error) {
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("silence id: %w", err)
	}
	return "s-" + hex.EncodeToString(r[:]), nil
}
