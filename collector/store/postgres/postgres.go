// Package postgres is the collector's Store on PostgreSQL (pgx v5), for
// several collectors sharing one database. Its semantics are the bbolt
// backend's (collector/store): values returned are copies, iteration is
// in the byte order of keys, missing things are store.ErrNotFound, and
// AppendEvent numbers the event log collector-wide.
//
// # One writer at a time, across collectors
//
// Every Update first locks one row (SELECT ... FROM plumb_writer WHERE
// id = 1 FOR UPDATE) and holds it until it commits. Write transactions of
// all collectors therefore run one at a time, as bbolt's do in one
// process, and that is what makes the rest simple and correct:
//
//   - The event log is gap-free for a reader tailing it with a cursor.
//     Seqs come from a counter in the locked row, so the transaction that
//     takes seq n commits before the one that takes n+1 can begin: commit
//     order equals seq order. A reader whose snapshot holds event n holds
//     every event below it, and a notifier's cursor can never pass an
//     event that commits late. (With a SQL sequence, n+1 could commit
//     before n and a tailing reader would skip n for ever.) The audit log
//     is numbered the same way.
//   - Read-check-write inside an Update is a true compare-and-set across
//     collectors: the ingest committer's check of a host's AppliedSeq
//     before applying a delta, ClaimLease's check of the holder. No other
//     writer can commit between the read and the write.
//   - Updates run at READ COMMITTED: after the lock is granted, each
//     statement sees everything the previous writer committed. (At
//     REPEATABLE READ the snapshot would predate the wait for the lock.)
//
// The cost is that writers do not run in parallel; the collectors' group
// commit (many deltas per Update) is what keeps throughput, as with bbolt.
// View is a READ ONLY, REPEATABLE READ transaction: a consistent snapshot
// that never waits for the writer.
//
// Round trips are what a SQL store pays for, so an Update holds its writes
// and sends them pipelined, as multi-row statements, when it next needs
// the database for a query (or at commit); a write's error can therefore
// surface from a later call or from Update itself, which then fails whole.
// Point reads of a host's facts, baselines and drift items are answered
// from the transaction's own writes, from rows read ahead (Prefetch: the
// ingest committer names a batch's keys), or from knowing that the host
// had no rows at all, before the database is asked. All of that is sound
// because the writer lock keeps every other writer out until commit.
//
// Iterations read in pages of pageSize rows (keyset paging on the key
// columns) and call back between pages, so a callback may read through
// the same transaction and memory stays bounded.
//
// # Portability
//
// The SQL is a portable subset (BYTEA, BIGINT, INTEGER, BOOLEAN, row
// comparisons, SELECT ... FOR UPDATE, no advisory locks, no sequences, no
// PostgreSQL-only types), so CockroachDB or YugabyteDB could follow. What
// is PostgreSQL's own: INSERT ... ON CONFLICT for upserts (CockroachDB and
// YugabyteDB accept it), transactional DDL in migrations, and the error
// codes recognised when two collectors create the schema table at once.
//
// Everything read from the database is checked before use (lengths,
// ranges, decoding errors) and is an error, never a panic: the database
// is as untrusted as the network.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plumb-dev/plumb/collector/store"
)

// DefaultConnectTimeout is how long Open retries an unreachable database.
const DefaultConnectTimeout = time.Minute

// DefaultMaxConns bounds the pool: one writer at a time, and reads
// (queries, watchers, notifiers) beside it. pgxpool's own default (the
// CPU count, at least 4) is small for a collector answering many readers.
const DefaultMaxConns = 16

// Options tune the PostgreSQL backend. The zero value is usable.
type Options struct {
	// EventRetention bounds the history, as store.Options.EventRetention.
	EventRetention time.Duration
	// ConnectTimeout is how long Open retries a database that does not
	// answer (with backoff, logging each failure) before giving up.
	// Default DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// MaxConns bounds the connection pool. Default DefaultMaxConns,
	// unless the DSN sets pool_max_conns.
	MaxConns int32
	// Logger receives connection and migration logs. Default: discard.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.EventRetention <= 0 {
		o.EventRetention = store.DefaultEventRetention
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Store is the PostgreSQL backend of store.Store.
type Store struct {
	pool   *pgxpool.Pool
	opts   Options
	logger *slog.Logger
	dsn    string // redacted, for messages
}

var (
	_ store.Store  = (*Store)(nil)
	_ store.Pruner = (*Store)(nil)
	_ store.Pinger = (*Store)(nil)
)

// IsDSN reports whether s is a PostgreSQL URL (postgres:// or
// postgresql://).
func IsDSN(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Open connects to the database at dsn and brings its schema up to date.
// A database that does not answer is retried with backoff for
// Options.ConnectTimeout, each failure logged; a schema newer than this
// build is refused (ErrSchemaTooNew). The DSN's password appears in no
// error and no log.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	red := Redact(dsn)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message quotes the DSN; ours names it redacted.
		return nil, fmt.Errorf("store DSN %s: not a valid PostgreSQL connection string", red)
	}
	switch {
	case opts.MaxConns > 0:
		cfg.MaxConns = opts.MaxConns
	case !strings.Contains(dsn, "pool_max_conns"):
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.ConnConfig.ConnectTimeout <= 0 {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store %s: %s", red, scrub(err, dsn))
	}
	s := &Store{pool: pool, opts: opts, logger: opts.Logger, dsn: red}
	exp := backoff.NewExponentialBackOff()
	exp.InitialInterval = 250 * time.Millisecond
	exp.MaxInterval = 5 * time.Second
	start := time.Now()
	b := &untilBackOff{BackOff: exp, deadline: start.Add(opts.ConnectTimeout)}
	attempt := 0
	_, err = backoff.Retry(ctx, func() (struct{}, error) {
		attempt++
		err := pool.Ping(ctx)
		if err == nil {
			err = migrate(ctx, pool, s.logger)
		}
		if err != nil && !errors.Is(err, ErrSchemaTooNew) {
			s.logger.Warn("database not ready", "dsn", red, "attempt", attempt, "err", scrub(err, dsn))
			return struct{}{}, err
		}
		return struct{}{}, backoff.Permanent(err) // nil: done
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0))
	if err != nil {
		pool.Close()
		if errors.Is(err, ErrSchemaTooNew) {
			return nil, fmt.Errorf("store %s: %w", red, err)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("store %s: %w", red, ctx.Err())
		}
		return nil, fmt.Errorf("store %s: database unreachable or failing for %s: %s", red, time.Since(start).Round(time.Second), scrub(err, dsn))
	}
	return s, nil
}

// untilBackOff retries until deadline, its last wait cut short to end
// there, so that a database is tried for the whole connect timeout.
type untilBackOff struct {
	backoff.BackOff
	deadline time.Time
}

func (b *untilBackOff) NextBackOff() time.Duration {
	left := time.Until(b.deadline)
	if left <= 0 {
		return backoff.Stop
	}
	return min(b.BackOff.NextBackOff(), left)
}

// DSN is the database's address with its password masked.
func (s *Store) DSN() string { return s.dsn }

// Update implements store.Store: one READ COMMITTED transaction that
// first takes the writer lock (see the package doc), committed durably
// before it returns nil.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	t := &pgTx{ctx: ctx, tx: tx, write: true}
	if err := t.lockWriter(); err != nil {
		return err
	}
	if err := fn(t); err != nil {
		return err
	}
	if err := t.finish(); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// View implements store.Store: a READ ONLY, REPEATABLE READ transaction.
func (s *Store) View(ctx context.Context, fn func(store.ReadTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(&pgTx{ctx: ctx, tx: tx}); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Ping implements store.Pinger: the database answers a query on our
// schema.
func (s *Store) Ping(ctx context.Context) error {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT event_seq FROM plumb_writer WHERE id = 1`).Scan(&n); err != nil {
		return fmt.Errorf("store %s: %w", s.dsn, err)
	}
	return nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Redact returns dsn with its password (the URL's, or a password=
// parameter) replaced by xxxxx.
func Redact(dsn string) string {
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "(unparsable URL)"
		}
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		q := u.Query()
		for _, k := range []string{"password", "sslpassword"} {
			if q.Has(k) {
				q.Set(k, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	return kvPassword.ReplaceAllString(dsn, "${1}xxxxx")
}

var kvPassword = regexp.MustCompile(`((?:^|\s)(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)`)

// scrub is err's message with any trace of the DSN's password removed
// (best effort on top of pgx's own redaction).
func scrub(err error, dsn string) string {
	msg := err.Error()
	if pw := password(dsn); pw != "" {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
		if esc := url.QueryEscape(pw); esc != pw {
			msg = strings.ReplaceAll(msg, esc, "xxxxx")
		}
	}
	return msg
}

func password(dsn string) string {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil || cfg.ConnConfig == nil {
		return ""
	}
	return cfg.ConnConfig.Password
}
