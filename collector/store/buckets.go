package store

// Every bucket and fixed key name of the bbolt backend, in one place. The
// tree they form is drawn on the Bolt type in bolt.go.
var (
	// bucketMeta holds the database's identity and schema version.
	bucketMeta = []byte("meta")
	// keyMagic marks the file as a Plumb collector database.
	keyMagic = []byte("magic")
	// keySchema holds the schema version, 8 bytes big-endian.
	keySchema = []byte("schema")

	// bucketHosts holds one sub-bucket per host, named by host id.
	bucketHosts = []byte("hosts")
	// keyHostRecord is the host's record (hostRecord, JSON) in its bucket.
	keyHostRecord = []byte("record")
	// keyHostDigest is the host's set digest (fact.SetDigest binary form).
	keyHostDigest = []byte("digest")
	// bucketFacts, bucketBaselines and bucketDrift are sub-buckets of a
	// host's bucket, keyed by fact.Key.Encode().
	bucketFacts     = []byte("facts")
	bucketBaselines = []byte("baselines")
	bucketDrift     = []byte("drift")

	// bucketEvents is the drift event log, keyed by 8-byte big-endian seq
	// (the bucket's own sequence).
	bucketEvents = []byte("events")
	// bucketCursors maps a consumer name to the last seq it finished.
	bucketCursors = []byte("cursors")

	// bucketJoinTokens, bucketAPITokens and bucketIdentities hold
	// credentials as JSON records: join tokens and API tokens by token id
	// (their secrets only as SHA-256), identities by host id.
	bucketJoinTokens = []byte("join_tokens")
	bucketAPITokens  = []byte("api_tokens")
	bucketIdentities = []byte("identities")

	// bucketSilences holds silences (Silence, JSON) by silence id.
	bucketSilences = []byte("silences")

	// bucketGroupBaselines holds one sub-bucket per group with a golden
	// baseline, named by the group (its layout is in groupbaselines.go).
	bucketGroupBaselines = []byte("group_baselines")
	// bucketAudit is the audit log of operator actions that are not drift
	// transitions (AuditRecord, JSON), keyed by 8-byte big-endian seq.
	bucketAudit = []byte("audit")
	// bucketFactHistory holds the previous value of each fact that
	// changed, keyed by host (uvarint length, id), the change's collector
	// time (8 bytes big-endian) and the fact key (fact.Key.Encode); the
	// value is a byte saying whether the fact existed, then its protobuf Fact.
	bucketFactHistory = []byte("fact_history")
	// bucketPolicies holds every applied policy (Policy, JSON) by its
	// version, 8 bytes big-endian.
	bucketPolicies = []byte("policies")
	// bucketLeases holds leases (Lease, JSON) by name; bucketSecrets the
	// collector-wide secrets (raw bytes) by name.
	bucketLeases  = []byte("leases")
	bucketSecrets = []byte("secrets")
)

// magic is the value of keyMagic.
const magic = "plumb-collector"

// hostSubBuckets are created with every host bucket.
var hostSubBuckets = [][]byte{bucketFacts, bucketBaselines, bucketDrift}
