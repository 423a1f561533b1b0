// Package factwire encodes and decodes file facts, the bulk of what agents
// store and collectors receive, by hand with protowire: the reflective
// proto codec was a measured share of the CPU of a scan and of a
// collector's ingest. Anything the hand codec does not know whole goes to
// proto; tests hold the two byte for byte (encoding) and value for value
// (decoding).
package factwire
