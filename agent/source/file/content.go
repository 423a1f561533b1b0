package file

import (
	"bytes"
	"errors"
	"log/slog"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/contentdiff"
	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// The file source keeps the last content it read of opted-in files (see
// ContentConfig) in the sink's ContentStore, and gives a live change of
// one a FileAttrs.content: the diff from the kept content to the new one.
// Snapshots (the first scan, rescans) only keep content up to date; their
// facts carry none. A file that is not world-readable never has content
// kept or sent.

// maxDiffBytes bounds one change's diff; a longer one is cut, visibly.
const maxDiffBytes = 16 << 10

// keepBatch bounds the content a scan gathers before keeping it in one
// transaction.
const (
	keepBatchOps   = 256
	keepBatchBytes = 4 << 20
)

const (
	contentDiff     = plumbv1.ContentState_CONTENT_STATE_DIFF
	contentFirst    = plumbv1.ContentState_CONTENT_STATE_FIRST
	contentTooLarge = plumbv1.ContentState_CONTENT_STATE_TOO_LARGE
	contentBinary   = plumbv1.ContentState_CONTENT_STATE_BINARY
)

// contentKeeper decides what content is kept and what a change shows.
// Its methods run on the Run goroutine.
type contentKeeper struct {
	set    *settings
	store  source.ContentStore // nil: the sink keeps no content
	logger *slog.Logger

	pending      []source.ContentOp // a scan's, kept at flush
	pendingBytes int
}

func newContentKeeper(set *settings, sink source.Sink, logger *slog.Logger) *contentKeeper {
	k := &contentKeeper{set: set, logger: logger}
	if cs, ok := sink.(source.ContentStore); ok && len(set.content.globs) > 0 {
		k.store = cs
	}
	return k
}

// captureLimit returns how much of the regular file at key to read along
// with its hash: content's max size if its content may be kept, else 0.
// Whether it is readable by all is decided on the attributes observed
// with the content (change, scanned).
func (k *contentKeeper) captureLimit(key string) int64 {
	if k.store == nil || !k.set.keepsContent(key) {
		return 0
	}
	return k.set.content.maxSize
}

// change returns the content change of a live change of f, whose content
// (nil if it was not read) was just hashed; existed says whether the path
// existed before. It keeps the new content.
func (k *contentKeeper) change(f *plumbv1.Fact, existed bool, content []byte) *plumbv1.ContentChange {
	key := fact.KeyOf(f)
	if k.store == nil || !k.set.keepsContent(key.ID) {
		return nil
	}
	a := f.GetFile()
	if a.GetType() != plumbv1.FileType_FILE_TYPE_REGULAR || a.GetMode()&0o004 == 0 {
		// Not a file whose content may leave the host (any more).
		k.drop(key)
		return nil
	}
	if sum, ok := k.store.KeptSum(key); ok && bytes.Equal(sum, a.GetSha256()) {
		// Same content: owner, mode or the like changed.
		return &plumbv1.ContentChange{State: contentDiff}
	}
	switch {
	case content == nil:
		k.drop(key)
		return &plumbv1.ContentChange{State: contentTooLarge}
	case !contentdiff.Text(content):
		k.drop(key)
		return &plumbv1.ContentChange{State: contentBinary}
	}
	old, had := k.store.KeptContent(key)
	var c *plumbv1.ContentChange
	switch {
	case had || !existed:
		// A new file shows as its whole content added.
		d := contentdiff.Unified(key.ID, old, content, maxDiffBytes)
		c = &plumbv1.ContentChange{State: contentDiff, UnifiedDiff: d.Unified, Redacted: d.Redacted}
	default:
		c = &plumbv1.ContentChange{State: contentFirst}
	}
	kept, err := k.store.KeepContent([]source.ContentOp{{Key: key, Content: content}}, k.set.content.maxTotal)
	switch {
	case err != nil:
		k.logger.Warn("cannot keep file content", "path", fact.Display([]byte(key.ID)), "err", err)
	case !kept[0]:
		k.logger.Debug("kept content is at its bound; not keeping", "path", fact.Display([]byte(key.ID)), "max_total", k.set.content.maxTotal)
	}
	if (err != nil || !kept[0]) && c.State == contentFirst {
		c.State = contentTooLarge
	}
	return c
}

// drop drops what is kept for key, if anything.
func (k *contentKeeper) drop(key fact.Key) {
	if _, ok := k.store.KeptSum(key); !ok {
		return
	}
	if _, err := k.store.KeepContent([]source.ContentOp{{Key: key, Drop: true}}, k.set.content.maxTotal); err != nil {
		k.logger.Warn("cannot drop kept file content", "path", fact.Display([]byte(key.ID)), "err", err)
	}
}

// needsRead reports whether a scan must read the regular file at key
// (mode and size from its stat) although its stat says it is unchanged:
// its content should be kept and is not.
func (k *contentKeeper) needsRead(key string, mode uint32, size int64) bool {
	if max := k.captureLimit(key); max == 0 || size > max || mode&0o004 == 0 {
		return false
	}
	_, ok := k.store.KeptSum(fact.Key{Kind: fileKind, ID: key})
	return !ok
}

// scanned brings the kept content of a file a scan reported (f, with the
// content it read, nil if none) up to date, in the scan's next flush.
func (k *contentKeeper) scanned(f *plumbv1.Fact, content []byte, captured bool) {
	if k.store == nil {
		return
	}
	key := fact.KeyOf(f)
	a := f.GetFile()
	sum, had := k.store.KeptSum(key)
	keep := captured && content != nil && a.GetMode()&0o004 != 0 && contentdiff.Text(content)
	switch {
	case keep && had && bytes.Equal(sum, a.GetSha256()):
		return
	case keep:
		k.pending = append(k.pending, source.ContentOp{Key: key, Content: content})
		k.pendingBytes += len(content)
	case had:
		// Not kept any more: not opted in, not readable by all, too
		// large, binary, or not a regular file now.
		k.pending = append(k.pending, source.ContentOp{Key: key, Drop: true})
	default:
		return
	}
	if len(k.pending) >= keepBatchOps || k.pendingBytes >= keepBatchBytes {
		k.flush()
	}
}

// flush keeps what a scan gathered.
func (k *contentKeeper) flush() {
	if len(k.pending) == 0 {
		return
	}
	kept, err := k.store.KeepContent(k.pending, k.set.content.maxTotal)
	if err != nil && !errors.Is(err, source.ErrNoContentStore) {
		k.logger.Warn("cannot keep file content", "files", len(k.pending), "err", err)
	}
	n := 0
	for i, ok := range kept {
		if !ok && !k.pending[i].Drop {
			n++
		}
	}
	if n > 0 {
		k.logger.Debug("kept content is at its bound; some files not kept", "files", n, "max_total", k.set.content.maxTotal)
	}
	clear(k.pending)
	k.pending, k.pendingBytes = k.pending[:0], 0
}
