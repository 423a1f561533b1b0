// Package state owns the agent's local database: the last value of every
// fact the agent has recorded, and the spool of sequenced deltas the
// collector has not acknowledged yet. Both live in one bbolt file, so a
// fact's new value and the delta that reports it commit together.
//
// Bucket tree:
//
//	meta    schema version, next sequence number, last acked sequence,
//	        set digest and fact count as of that sequence number
//	facts   fact.Key.Encode() -> plumbv1.Fact (proto)
//	spool   big-endian seq    -> entry (base digest + plumbv1.Delta)
//	content fact.Key.Encode() -> SHA-256 ‖ the file's last content (content.go)
//
// Two set digests are kept in memory: cur, of every fact, read at open
// from meta (or, if meta's is not of the stored sequence number, rebuilt
// from every fact), and acked, of the state the collector holds once it
// has applied everything acknowledged: cur with the spool undone. A spool entry carries the digest the fact had
// before the delta (its base); acknowledging the entry moves acked from
// base to the delta's value. The handshake compares acked with the
// collector's bucket digests to find what to resync.
//
// The spool is bounded. Past its limit it compacts: only the newest delta
// per fact is kept (with the oldest base), so it is bounded by the number
// of facts, not by the length of an outage. If even that does not fit, the
// spool is dropped, loudly, and acked set to the current state, so the next
// handshake finds the buckets where the collector differs and resyncs them.
// Nothing is lost silently.
package state
