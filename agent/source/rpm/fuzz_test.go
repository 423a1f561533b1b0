package rpm

import (
	"database/sql"
	"encoding/binary"
	"path/filepath"
	"testing"
)

// header builds an rpm header blob: index entries (tag, type, offset,
// count) over a data store.
func header(entries [][4]uint32, store []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(entries)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(store)))
	for _, e := range entries {
		for _, v := range e {
			b = binary.BigEndian.AppendUint32(b, v)
		}
	}
	return append(b, store...)
}

// FuzzHeaderBlob stores an arbitrary header blob in an rpmdb.sqlite and
// reads it with readDatabase, which must return one package or an error,
// never panic: go-rpmdb panics on many malformed headers (an index past
// the blob's end), and readDatabase turns that into an error.
func FuzzHeaderBlob(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 8))
	f.Add(header([][4]uint32{{1000, 6, 0, 1}, {1001, 6, 4, 1}, {1002, 6, 8, 1}, {1022, 6, 12, 1}}, []byte("foo\x001.0\x001\x00x86_64\x00")))
	f.Add(header([][4]uint32{{1000, 6, 0, 1}}, []byte("foo")))
	f.Add(header([][4]uint32{{1003, 4, 0, 1}, {1000, 6, 4, 1}}, []byte{0, 0, 0, 1, 'a', 0}))
	f.Add(header([][4]uint32{{1117, 8, 0, 2}, {1116, 4, 0, 5}}, []byte("a\x00")))
	f.Add(header([][4]uint32{{1000, 6, 0xffffff00, 1}}, nil))
	// 1.7e9 index entries declared in 8 bytes: go-rpmdb would allocate
	// 27 GB for them, a fatal out-of-memory (checkHeaders refuses it).
	f.Add([]byte("f\x06\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, blob []byte) {
		path := filepath.Join(t.TempDir(), "rpmdb.sqlite")
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = db.Exec("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
		if err == nil {
			_, err = db.Exec("INSERT INTO Packages (blob) VALUES (?)", blob)
		}
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
		pkgs, _, err := readDatabase(path, func(Package) bool { return true })
		if err == nil && len(pkgs) != 1 {
			t.Fatalf("one header read as %d packages", len(pkgs))
		}
	})
}

func TestHeaderFits(t *testing.T) {
	good := header([][4]uint32{{1000, 6, 0, 1}}, []byte("foo\x00"))
	if err := headerFits(good); err != nil {
		t.Fatalf("a well-formed header: %v", err)
	}
	for name, b := range map[string][]byte{
		"short":               []byte{0, 0, 0},
		"no tags":             header(nil, nil),
		"1.7e9 tags":          []byte("f\x06\x00\x00\x00\x00\x00\x00"),
		"data past the end":   good[:len(good)-1],
		"300 MB of data":      binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 1), 300<<20),
		"70,000 tags, in fit": append(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 70000), 0), make([]byte, 16*70000)...),
	} {
		if err := headerFits(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
