package stream

import (
	"errors"
	"fmt"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// Everything the collector sends is range-checked here before the agent's
// state sees it: a confused or hostile collector ends the session (the
// client retries later, with backoff), it never panics the agent or moves
// its sequence counter out of reach.

// errBadCollectorMessage wraps every refusal of a collector message.
var errBadCollectorMessage = errors.New("collector sent an invalid message")

// maxRecvMsgSize bounds one message from the collector. The largest it
// sends is a welcome of fact.BucketCount 32-byte digests (about 9 KiB).
const maxRecvMsgSize = 4 << 20

// checkWelcome validates a welcome's shape. The applied sequence number is
// checked against the agent's counter by state.DB.Resume.
func checkWelcome(w *plumbv1.Welcome) error {
	if n := len(w.GetBucketDigests()); n != 0 && n != fact.BucketCount {
		return fmt.Errorf("%w: welcome carries %d bucket digests, want 0 or %d", errBadCollectorMessage, n, fact.BucketCount)
	}
	for i, d := range w.GetBucketDigests() {
		if len(d) != 32 {
			return fmt.Errorf("%w: welcome bucket digest %d is %d bytes, want 32", errBadCollectorMessage, i, len(d))
		}
	}
	if n := len(w.GetSetDigest()); n != 0 && n != 32 {
		return fmt.Errorf("%w: welcome set digest is %d bytes, want 32", errBadCollectorMessage, n)
	}
	return nil
}

// checkAck validates an ack against the last sequence number the agent
// assigned: the collector cannot have applied a delta never numbered.
func checkAck(a *plumbv1.Ack, lastSeq uint64) error {
	if a.GetSeq() > lastSeq {
		return fmt.Errorf("%w: ack of seq %d, but this agent has numbered only up to %d", errBadCollectorMessage, a.GetSeq(), lastSeq)
	}
	if n := len(a.GetSetDigest()); n != 0 && n != 32 {
		return fmt.Errorf("%w: ack set digest is %d bytes, want 32", errBadCollectorMessage, n)
	}
	return nil
}

// resyncBuckets returns a resync request's buckets in order, duplicates
// dropped. A bucket number out of range refuses the whole request.
func resyncBuckets(r *plumbv1.ResyncRequest) ([]uint32, error) {
	var seen [fact.BucketCount]bool
	var out []uint32
	for _, b := range r.GetBuckets() {
		if b >= fact.BucketCount {
			return nil, fmt.Errorf("%w: resync of bucket %d (want < %d)", errBadCollectorMessage, b, fact.BucketCount)
		}
		if !seen[b] {
			seen[b] = true
		}
	}
	for b, ok := range seen {
		if ok {
			out = append(out, uint32(b))
		}
	}
	return out, nil
}
