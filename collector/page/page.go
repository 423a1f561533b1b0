// Package page owns the paging of the collector's list calls: the page
// size a request may ask for, the opaque token that resumes a list after
// the last key a page covered, and the budgets (items, encoded bytes,
// entries examined) that keep every reply and every call bounded, however
// big the fleet.
//
// A list is read in a fixed key order, one page per read transaction. A
// token names the last key the previous page covered, so the next page
// starts strictly after it: an item present from the first page to the
// last is returned exactly once, whatever is written in between, and no
// page depends on an offset that concurrent writes would shift.
package page

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"
)

// Page sizes and budgets of the lists other than ListFacts (which has its
// own, in collector/limits).
const (
	// DefaultSize is the page size of a request that asks for none.
	DefaultSize = 1000
	// MaxSize is the largest page size a request may ask for; more is
	// refused.
	MaxSize = 10000
	// MaxBytes bounds a page's encoded items: a page stops before the item
	// that would cross it (but always holds one item, which the gRPC send
	// limit bounds). It leaves room under gRPC's default receive limit (4
	// MiB), so that a client with default options can read every page.
	MaxBytes = 3 << 20
	// MaxScan bounds the entries one call examines: a filter that skips
	// most of a big list ends the page early, with a token, rather than
	// reading the whole list in one call.
	MaxScan = 100_000
)

// ErrSize is a page size past the maximum.
var ErrSize = errors.New("page_size too large")

// Size is the page size to use for asked: def when it is 0, ErrSize when
// it is more than maximum.
func Size(asked uint32, def, maximum int) (int, error) {
	switch {
	case asked == 0:
		return min(def, maximum), nil
	case int64(asked) > int64(maximum):
		return 0, fmt.Errorf("%w: page_size %d, at most %d", ErrSize, asked, maximum)
	}
	return int(asked), nil
}

// ErrFull stops a list's scan: the page is complete. Callers return it
// from their store callback and treat it as success.
var ErrFull = errors.New("page full")

// Builder fills one page from entries offered in key order.
type Builder[T proto.Message] struct {
	size, maxBytes, maxScan int

	items   []T
	bytes   int
	scanned int
	covered []byte // key of the last entry this page covered
	next    []byte // set when the page ended before the list did
}

// NewBuilder returns a builder of a page of at most size items and about
// maxBytes encoded bytes, examining at most maxScan entries (0: MaxScan).
func NewBuilder[T proto.Message](size, maxBytes, maxScan int) *Builder[T] {
	if maxScan <= 0 {
		maxScan = MaxScan
	}
	return &Builder[T]{size: max(size, 1), maxBytes: maxBytes, maxScan: maxScan}
}

// Offer considers the next entry of the list, whose key is key: item is
// added when match holds. It returns ErrFull when the page is complete
// and the scan should stop; the entry that found the page full is not
// covered and starts the next page. key must stay valid (copy bytes that
// die with a transaction).
func (b *Builder[T]) Offer(key []byte, item T, match bool) error {
	if len(b.items) >= b.size || b.scanned >= b.maxScan {
		// A further entry exists: the page ends after the last one covered.
		b.next = b.covered
		return ErrFull
	}
	b.scanned++
	if !match {
		b.covered = key
		return nil
	}
	n := proto.Size(item)
	if len(b.items) > 0 && b.bytes+n > b.maxBytes {
		b.next = b.covered
		return ErrFull
	}
	b.items = append(b.items, item)
	b.bytes += n
	b.covered = key
	return nil
}

// Items returns the page's items.
func (b *Builder[T]) Items() []T { return b.items }

// Next returns the key the next page starts after, or nil when the list
// ended within this page.
func (b *Builder[T]) Next() []byte { return b.next }

// Done reports the scan's error: nil for ErrFull, which only ends a page.
func Done(err error) error {
	if errors.Is(err, ErrFull) {
		return nil
	}
	return err
}
