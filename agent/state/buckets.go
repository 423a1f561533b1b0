package state

var (
	bucketMeta  = []byte("meta")
	bucketFacts = []byte("facts")
	bucketSpool = []byte("spool")
	// bucketContent: kept content of some file facts (content.go).
	bucketContent = []byte("content")

	keySchema   = []byte("schema")
	keySeq      = []byte("seq")
	keyAckedSeq = []byte("acked_seq")
	keyDirty    = []byte("dirty_buckets") // dirtySet; absent when empty
	// keyCheckpointAcked is 1 once the collector acknowledged a checkpoint.
	keyCheckpointAcked = []byte("checkpoint_acked")
	keyMagic           = []byte("magic")
	magicValue         = []byte("plumb-agent-state")
	schemaVersion      = uint64(1)
)
