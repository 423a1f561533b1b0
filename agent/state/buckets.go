package state

var (
	bucketMeta  = []byte("meta")
	bucketFacts = []byte("facts")
	bucketSpool = []byte("spool")

	keySchema     = []byte("schema")
	keySeq        = []byte("seq")
	keyAckedSeq   = []byte("acked_seq")
	keyMagic      = []byte("magic")
	magicValue    = []byte("plumb-agent-state")
	schemaVersion = uint64(1)
)
