// Package fact owns Plumb's data model as both sides see it: the identity of
// a fact (Key), its canonical digest, the order-independent set digest of a
// host's state, and the reversible display form of keys that are not UTF-8.
//
// The wire types live in proto/plumb/v1; this package adds the rules that
// agent and collector must agree on bit for bit.
package fact
