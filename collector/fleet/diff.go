package fleet

import (
	"bytes"
	"errors"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// chunk is how many facts a cursor reads per store scan: the memory of a
// Diff is two chunks, whatever the hosts' sizes.
const chunk = 512

var errChunk = errors.New("chunk full")

// cursor pulls one host's facts in key order, a chunk at a time.
type cursor struct {
	tx    store.ReadTx
	host  string
	kind  plumbv1.FactKind
	after *fact.Key
	buf   []*plumbv1.Fact
	done  bool
}

func (c *cursor) peek() (*plumbv1.Fact, error) {
	if len(c.buf) == 0 && !c.done {
		c.buf = c.buf[:0]
		err := c.tx.FactsAfter(c.host, c.kind, c.after, func(f *plumbv1.Fact) error {
			c.buf = append(c.buf, f)
			if len(c.buf) == chunk {
				return errChunk
			}
			return nil
		})
		if err != nil && !errors.Is(err, errChunk) {
			return nil, err
		}
		if len(c.buf) < chunk {
			c.done = true
		}
		if len(c.buf) > 0 {
			k := fact.KeyOf(c.buf[len(c.buf)-1])
			c.after = &k
		}
	}
	if len(c.buf) == 0 {
		return nil, nil
	}
	return c.buf[0], nil
}

func (c *cursor) pop() { c.buf = c.buf[1:] }

// Diff walks the facts of hosts a and b after key after (nil: from the
// first) in key order, merging their two cursors, and calls emit for every
// key: with the difference, or nil when both hold the same digest (so
// that a caller's page can count what it examined). emit returning an
// error stops the walk with it. kind limits the kinds (unspecified: all).
func Diff(tx store.ReadTx, a, b string, kind plumbv1.FactKind, after *fact.Key, emit func(k fact.Key, d *plumbv1.FactDifference) error) error {
	ca := &cursor{tx: tx, host: a, kind: kind, after: after}
	cb := &cursor{tx: tx, host: b, kind: kind, after: after}
	for {
		fa, err := ca.peek()
		if err != nil {
			return err
		}
		fb, err := cb.peek()
		if err != nil {
			return err
		}
		var c int
		switch {
		case fa == nil && fb == nil:
			return nil
		case fa == nil:
			c = 1
		case fb == nil:
			c = -1
		default:
			c = compareKeys(fact.KeyOf(fa), fact.KeyOf(fb))
		}
		var k fact.Key
		var d *plumbv1.FactDifference
		switch {
		case c < 0:
			ca.pop()
			k = fact.KeyOf(fa)
			d = &plumbv1.FactDifference{Kind: k.Kind, Key: fa.GetKey(), A: fa}
		case c > 0:
			cb.pop()
			k = fact.KeyOf(fb)
			d = &plumbv1.FactDifference{Kind: k.Kind, Key: fb.GetKey(), B: fb}
		default:
			ca.pop()
			cb.pop()
			k = fact.KeyOf(fa)
			if !bytes.Equal(fa.GetDigest(), fb.GetDigest()) {
				d = &plumbv1.FactDifference{Kind: k.Kind, Key: fa.GetKey(), A: fa, B: fb, Attributes: Attributes(fa, fb)}
			}
		}
		if err := emit(k, d); err != nil {
			return err
		}
	}
}

// volatile names the attributes carried for context, not configuration
// (they are not in the digest): Attributes never reports them.
var volatile = map[protoreflect.Name]bool{
	"mtime_unix_nano": true, "ctime_unix_nano": true, "inode": true, "device": true, "content": true,
}

// Attributes names the attributes in which two values of one fact differ,
// in field order: the fields of their typed attributes ("sha256", "mode",
// "version"...), or "attrs" when they are of different types.
func Attributes(a, b *plumbv1.Fact) []string {
	ma, mb := attrs(a), attrs(b)
	switch {
	case ma == nil && mb == nil:
		return nil
	case ma == nil || mb == nil || ma.Descriptor() != mb.Descriptor():
		return []string{"attrs"}
	}
	var out []string
	fields := ma.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if volatile[fd.Name()] {
			continue
		}
		va, vb := ma.Get(fd), mb.Get(fd)
		same := false
		if fd.Kind() == protoreflect.MessageKind {
			same = proto.Equal(va.Message().Interface(), vb.Message().Interface())
		} else {
			same = va.Equal(vb)
		}
		if !same {
			out = append(out, string(fd.Name()))
		}
	}
	return out
}

// attrs is a fact's typed attributes (the set member of its oneof).
func attrs(f *plumbv1.Fact) protoreflect.Message {
	m := f.ProtoReflect()
	od := m.Descriptor().Oneofs().ByName("attrs")
	fd := m.WhichOneof(od)
	if fd == nil {
		return nil
	}
	return m.Get(fd).Message()
}
