package fact

// SeqWindow bounds how far ahead of the last applied sequence number a
// delta may be numbered. Agents number deltas one by one, so a real agent
// never jumps this far; a peer that names a number beyond it is refused
// rather than believed. Believing it would freeze the host (every later,
// lower number looks like a duplicate) or wrap the agent's counter.
const SeqWindow uint64 = 1 << 32

// SeqWithin reports whether seq is at most SeqWindow above base, without
// overflow. Numbers at or below base are within the window.
func SeqWithin(base, seq uint64) bool {
	return seq <= base || seq-base <= SeqWindow
}
