package rpm

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/knqyf263/go-rpmdb/pkg/bdb"
	dbi "github.com/knqyf263/go-rpmdb/pkg/db"
	"github.com/knqyf263/go-rpmdb/pkg/ndb"
	"github.com/knqyf263/go-rpmdb/pkg/sqlite3"
)

// go-rpmdb v0.1.1 allocates what a header blob declares (16 bytes per
// index entry, for up to 2^31 entries) before it checks the declaration
// against the blob: one damaged or hostile header is a fatal
// out-of-memory, which no recover catches. So every blob's declared sizes
// are checked against its length, and against rpm's own bounds, before
// go-rpmdb decodes any.

// rpm's limits on a header (hdrchkTags, hdrchkData in lib/header.c).
const (
	maxHeaderTags = 0xffff
	maxHeaderData = 256 << 20
)

// headerFits checks that a header blob's index count and data length fit
// in the blob: 8 + 16 × entries + data bytes.
func headerFits(b []byte) error {
	if len(b) < 8 {
		return fmt.Errorf("header of %d bytes, shorter than its 8-byte preamble", len(b))
	}
	il, dl := binary.BigEndian.Uint32(b[0:4]), binary.BigEndian.Uint32(b[4:8])
	if il < 1 || il > maxHeaderTags || dl > maxHeaderData {
		return fmt.Errorf("header declares %d tags and %d data bytes (want 1 to %d tags, at most %d bytes)", il, dl, maxHeaderTags, maxHeaderData)
	}
	if need := 8 + 16*uint64(il) + uint64(dl); need > uint64(len(b)) {
		return fmt.Errorf("header declares %d bytes, holds %d", need, len(b))
	}
	// Each entry's count must fit in the data it points into: go-rpmdb
	// loops and allocates per declared element, so a string array that
	// claims four billion strings in two bytes takes minutes and
	// gigabytes (found by FuzzHeaderBlob).
	for i := range uint64(il) {
		e := b[8+16*i : 8+16*i+16]
		typ, off, count := binary.BigEndian.Uint32(e[4:8]), uint64(binary.BigEndian.Uint32(e[8:12])), uint64(binary.BigEndian.Uint32(e[12:16]))
		if off > uint64(dl) {
			return fmt.Errorf("header entry %d: offset %d past the %d data bytes", i, off, dl)
		}
		room := uint64(dl) - off
		var need uint64
		switch typ {
		case 0: // NULL
		case 1, 2, 7: // CHAR, INT8, BIN
			need = count
		case 3: // INT16
			need = 2 * count
		case 4: // INT32
			need = 4 * count
		case 5: // INT64
			need = 8 * count
		case 6, 8, 9: // STRING, STRING_ARRAY, I18NSTRING: at least a NUL each
			need = count
		default:
			return fmt.Errorf("header entry %d: unknown type %d", i, typ)
		}
		if need > room {
			return fmt.Errorf("header entry %d: %d elements of type %d need %d bytes, %d left", i, count, typ, need, room)
		}
	}
	return nil
}

// checkHeaders reads every header blob of the database at path, as
// go-rpmdb's own Open would find them, and checks each with headerFits.
func checkHeaders(path string) error {
	db, err := openBlobs(path)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	var bad error
	n := 0
	for e := range db.Read() { // read to the end: the reader's goroutine sends them all
		n++
		switch {
		case bad != nil:
		case e.Err != nil:
			bad = e.Err
		default:
			if err := headerFits(e.Value); err != nil {
				bad = fmt.Errorf("package header %d: %w", n, err)
			}
		}
	}
	return bad
}

// openBlobs opens the database at path the way rpmdb.Open does: sqlite,
// then ndb, then Berkeley DB.
func openBlobs(path string) (dbi.RpmDBInterface, error) {
	s, err := sqlite3.Open(path)
	if err != nil && !errors.Is(err, sqlite3.ErrorInvalidSQLite3) {
		return nil, err
	}
	if s != nil {
		return s, nil
	}
	n, err := ndb.Open(path)
	if err != nil && !errors.Is(err, ndb.ErrorInvalidNDB) {
		return nil, err
	}
	if n != nil {
		return n, nil
	}
	return bdb.Open(path)
}
