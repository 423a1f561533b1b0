package source

import (
	"errors"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// ContentStore is an optional interface of a Sink: where a source keeps
// the last content it saw of some of its facts, so that it can show their
// next change as a diff (the file source does, for opted-in text files).
// Kept content belongs to its fact: when the fact is deleted, its content
// goes with it. Unlike the facts, kept content is written at once, not in
// the runner's batches; only the source that reported a fact keeps its
// content, from its own goroutine.
type ContentStore interface {
	// KeptSum returns the SHA-256 of the content kept for k.
	KeptSum(k fact.Key) ([]byte, bool)
	// KeptContent returns the content kept for k (a copy).
	KeptContent(k fact.Key) ([]byte, bool)
	// KeepContent applies ops in one transaction. Content that would take
	// the store's total past budget bytes is not kept (and what was kept
	// for its key is dropped); kept[i] says whether ops[i]'s content is
	// kept now.
	KeepContent(ops []ContentOp, budget int64) (kept []bool, err error)
}

// ContentOp keeps Content for Key, or with Drop, drops what is kept.
type ContentOp struct {
	Key     fact.Key
	Content []byte
	Drop    bool
}

// ErrNoContentStore is what a runner's sink returns when its recorder
// keeps no content.
var ErrNoContentStore = errors.New("the recorder keeps no content")

// KeptSum, KeptContent and KeepContent implement ContentStore with the
// recorder's, if it has one.
func (s *sink) KeptSum(k fact.Key) ([]byte, bool) {
	if cs, ok := s.r.rec.(ContentStore); ok {
		return cs.KeptSum(k)
	}
	return nil, false
}

func (s *sink) KeptContent(k fact.Key) ([]byte, bool) {
	if cs, ok := s.r.rec.(ContentStore); ok {
		return cs.KeptContent(k)
	}
	return nil, false
}

func (s *sink) KeepContent(ops []ContentOp, budget int64) ([]bool, error) {
	if cs, ok := s.r.rec.(ContentStore); ok {
		return cs.KeepContent(ops, budget)
	}
	return nil, ErrNoContentStore
}
