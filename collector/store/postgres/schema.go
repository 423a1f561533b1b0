package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migration brings the schema from version-1 to version. Each runs in the
// transaction that records its version. Append only; never edit a
// released entry.
type migration struct {
	version uint64
	name    string
	sql     []string
}

// Every key column is BYTEA: host ids, fact keys (fact.Key.Encode) and
// names may be any bytes, and BYTEA compares bytewise, which is the order
// the bbolt backend iterates in (no collation is involved).
var migrations = []migration{
	{version: 1, name: "create tables", sql: []string{
		// The writer row: every Update locks it first, so write
		// transactions of all collectors run one at a time; it also holds
		// the last event and audit seqs ever assigned.
		`CREATE TABLE plumb_writer (
			id        INTEGER PRIMARY KEY,
			event_seq BIGINT NOT NULL,
			audit_seq BIGINT NOT NULL)`,
		`INSERT INTO plumb_writer (id, event_seq, audit_seq) VALUES (1, 0, 0)`,
		`CREATE TABLE plumb_hosts (
			id     BYTEA PRIMARY KEY,
			record BYTEA NOT NULL,
			digest BYTEA NOT NULL)`,
		`CREATE TABLE plumb_facts (
			host   BYTEA NOT NULL,
			k      BYTEA NOT NULL,
			bucket INTEGER NOT NULL,
			v      BYTEA NOT NULL,
			PRIMARY KEY (host, k))`,
		`CREATE INDEX plumb_facts_bucket ON plumb_facts (host, bucket, k)`,
		`CREATE TABLE plumb_baselines (
			host BYTEA NOT NULL,
			k    BYTEA NOT NULL,
			v    BYTEA NOT NULL,
			PRIMARY KEY (host, k))`,
		`CREATE TABLE plumb_drift (
			host     BYTEA NOT NULL,
			k        BYTEA NOT NULL,
			open     BOOLEAN NOT NULL,
			severity INTEGER NOT NULL,
			v        BYTEA NOT NULL,
			PRIMARY KEY (host, k))`,
		`CREATE TABLE plumb_events (
			seq BIGINT PRIMARY KEY,
			at  BIGINT NOT NULL,
			v   BYTEA NOT NULL)`,
		`CREATE TABLE plumb_cursors (
			name BYTEA PRIMARY KEY,
			seq  BIGINT NOT NULL)`,
		// Small JSON (or raw) records by kind and id: tokens, identities,
		// silences, group baseline records, policies, leases, secrets.
		`CREATE TABLE plumb_records (
			kind VARCHAR(32) NOT NULL,
			id   BYTEA NOT NULL,
			v    BYTEA NOT NULL,
			PRIMARY KEY (kind, id))`,
		`CREATE TABLE plumb_group_facts (
			grp BYTEA NOT NULL,
			k   BYTEA NOT NULL,
			v   BYTEA NOT NULL,
			PRIMARY KEY (grp, k))`,
		// ek is the bbolt backend's exception key (uvarint length, host,
		// fact key), so exceptions list in the same order.
		`CREATE TABLE plumb_group_exceptions (
			grp BYTEA NOT NULL,
			ek  BYTEA NOT NULL,
			k   BYTEA NOT NULL,
			v   BYTEA NOT NULL,
			PRIMARY KEY (grp, ek))`,
		`CREATE TABLE plumb_audit (
			seq BIGINT PRIMARY KEY,
			at  BIGINT NOT NULL,
			v   BYTEA NOT NULL)`,
		`CREATE TABLE plumb_fact_history (
			host    BYTEA NOT NULL,
			at      BIGINT NOT NULL,
			k       BYTEA NOT NULL,
			present BOOLEAN NOT NULL,
			v       BYTEA NOT NULL,
			PRIMARY KEY (host, at, k))`,
		`CREATE INDEX plumb_fact_history_at ON plumb_fact_history (at)`,
	}},
}

// LatestSchema is the schema version this build creates and understands.
func LatestSchema() uint64 { return migrations[len(migrations)-1].version }

// ErrSchemaTooNew is returned by Open for a database written by a newer
// Plumb.
var ErrSchemaTooNew = errors.New("database schema is newer than this build")

// migrate brings the database's schema up to date. The version row is
// locked (SELECT ... FOR UPDATE) for the whole migration, so of two
// collectors starting at once one migrates and the other waits, then
// finds nothing to do. PostgreSQL's DDL is transactional: a failed
// migration leaves the previous version whole.
func migrate(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	if err := bootstrapSchemaTable(ctx, pool); err != nil {
		return err
	}
	return pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		var version int64
		if err := tx.QueryRow(ctx, `SELECT version FROM plumb_schema WHERE id = 1 FOR UPDATE`).Scan(&version); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if version < 0 {
			return fmt.Errorf("read schema version: %d is not a version", version)
		}
		if uint64(version) > LatestSchema() {
			return fmt.Errorf("%w: the database's schema is version %d, this plumb-collector knows up to %d: upgrade plumb-collector", ErrSchemaTooNew, version, LatestSchema())
		}
		for _, m := range migrations {
			if m.version <= uint64(version) {
				continue
			}
			for _, stmt := range m.sql {
				if _, err := tx.Exec(ctx, stmt); err != nil {
					return fmt.Errorf("migrate to schema %d (%s): %w", m.version, m.name, err)
				}
			}
			if _, err := tx.Exec(ctx, `UPDATE plumb_schema SET version = $1 WHERE id = 1`, int64(m.version)); err != nil {
				return fmt.Errorf("migrate to schema %d: %w", m.version, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO plumb_schema_history (version, name, applied_at) VALUES ($1, $2, $3)`,
				int64(m.version), m.name, time.Now().UnixNano()); err != nil {
				return fmt.Errorf("migrate to schema %d: %w", m.version, err)
			}
			logger.Info("schema migrated", "version", m.version, "migration", m.name)
		}
		return nil
	})
}

// bootstrapSchemaTable creates the version table and its row if missing.
// Two sessions creating the same table at once can both pass IF NOT
// EXISTS and one then fails on a unique index of the catalog: that one
// tries again and finds the table.
func bootstrapSchemaTable(ctx context.Context, pool *pgxpool.Pool) error {
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS plumb_schema (id INTEGER PRIMARY KEY, version BIGINT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS plumb_schema_history (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`,
		`INSERT INTO plumb_schema (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING`,
	}
	for _, stmt := range stmts {
		var err error
		for attempt := 0; attempt < 5; attempt++ {
			if _, err = pool.Exec(ctx, stmt); err == nil || !isCreateRace(err) {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("create schema version table: %w", err)
		}
	}
	return nil
}

func isCreateRace(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "23505" || pe.Code == "42P07")
}
