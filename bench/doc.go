// Package bench holds Plumb's system benchmarks: the real plumb-agent,
// plumb-collector and plumbctl run as separate processes on loopback
// against generated trees, and each figure is printed next to a peer
// measured in the same run (a bare Go walk, sha256sum, AIDE, a single
// agent), because the ratio survives a noisy shared machine better than
// the absolute time does.
//
// The package has no non-test code; run it with `make bench`. See
// README.md for what each benchmark measures and the figures measured on
// the development machine.
package bench
