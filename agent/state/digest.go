package state

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// digestChunk is how many stored facts the reader hands a hasher at once.
const digestChunk = 512

// digestFacts returns the set digest of the facts in b and how many there
// are. An open rebuilds the digest over every stored fact, two SHA-256
// each, and the agent's restart waits for it before it rescans (11 ms of
// a 20k-fact open on one core here): one goroutine walks the bucket and
// hands the raw entries, which stay valid while the caller's transaction
// is open, to a hasher per core, each summing its own digest; digests
// merge. tick is called for every entry walked.
func digestFacts(b *bolt.Bucket, tick func()) (fact.SetDigest, uint64, error) {
	workers := runtime.GOMAXPROCS(0)
	type entry struct{ k, v []byte }
	chunks := make(chan []entry, workers)
	sums := make([]fact.SetDigest, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for chunk := range chunks {
				for _, e := range chunk {
					if errs[w] != nil {
						break // drain the rest unread
					}
					digest, err := storedDigest(e.v)
					if err != nil {
						errs[w] = fmt.Errorf("fact %q: %w", e.k, err)
						break
					}
					key, err := fact.DecodeKey(e.k)
					if err != nil {
						errs[w] = err
						break
					}
					sums[w].Add(key, digest)
				}
			}
		})
	}
	var n uint64
	chunk := make([]entry, 0, digestChunk)
	_ = b.ForEach(func(k, v []byte) error {
		tick()
		n++
		chunk = append(chunk, entry{k, v})
		if len(chunk) == digestChunk {
			chunks <- chunk
			chunk = make([]entry, 0, digestChunk)
		}
		return nil
	})
	if len(chunk) > 0 {
		chunks <- chunk
	}
	close(chunks)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fact.SetDigest{}, 0, err
	}
	var sum fact.SetDigest
	for w := range sums {
		sum.Merge(&sums[w])
	}
	return sum, n, nil
}
