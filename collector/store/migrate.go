package store

import (
	"encoding/binary"
	"fmt"
	"log/slog"

	bolt "go.etcd.io/bbolt"
)

// migration brings the schema from version-1 to version. Migrations run
// in order, each in the transaction that records its version, so a crash
// leaves the database at a whole version.
type migration struct {
	version uint64
	name    string
	apply   func(tx *bolt.Tx) error
}

// migrations is the ordered schema history. Append only; never edit a
// released entry.
var migrations = []migration{
	{version: 1, name: "create top-level buckets", apply: migrateV1},
	{version: 2, name: "create credential buckets", apply: migrateV2},
	{version: 3, name: "create silences bucket", apply: migrateV3},
	{version: 4, name: "create group baselines bucket", apply: migrateV4},
	{version: 5, name: "create audit and fact history buckets", apply: migrateV5},
	{version: 6, name: "create policies bucket", apply: migrateV6},
	{version: 7, name: "create leases and secrets buckets", apply: migrateV7},
}

func latestSchema() uint64 { return migrations[len(migrations)-1].version }

func migrateV1(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketHosts, bucketEvents, bucketCursors} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

func migrateV2(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketJoinTokens, bucketAPITokens, bucketIdentities} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

func migrateV3(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bucketSilences); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketSilences, err)
	}
	return nil
}

func migrateV4(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bucketGroupBaselines); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketGroupBaselines, err)
	}
	return nil
}

func migrateV5(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketAudit, bucketFactHistory} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

func migrateV6(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bucketPolicies); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketPolicies, err)
	}
	return nil
}

func migrateV7(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketLeases, bucketSecrets} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// schemaVersion reads the schema version: 0 for an empty file, an
// ErrNotDatabase error for a file that holds something else.
func schemaVersion(tx *bolt.Tx) (uint64, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		empty := true
		_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			empty = false
			return nil
		})
		if !empty {
			return 0, fmt.Errorf("%w: it has buckets but no %q bucket", ErrNotDatabase, bucketMeta)
		}
		return 0, nil
	}
	if m := meta.Get(keyMagic); string(m) != magic {
		return 0, fmt.Errorf("%w: magic is %q, want %q", ErrNotDatabase, m, magic)
	}
	v := meta.Get(keySchema)
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: schema version is %d bytes, want 8", ErrNotDatabase, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// migrate applies every migration above version, then records the new
// version.
func migrate(tx *bolt.Tx, version uint64, logger *slog.Logger) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketMeta, err)
	}
	if err := meta.Put(keyMagic, []byte(magic)); err != nil {
		return err
	}
	for _, m := range migrations {
		if m.version <= version {
			continue
		}
		if err := m.apply(tx); err != nil {
			return fmt.Errorf("migrate to schema %d (%s): %w", m.version, m.name, err)
		}
		if err := meta.Put(keySchema, be64(m.version)); err != nil {
			return err
		}
		logger.Info("schema migrated", "version", m.version, "migration", m.name)
	}
	return nil
}

func be64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}
