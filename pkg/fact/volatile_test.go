package fact

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// TestDigestIgnoresEveryVolatileFileField sets each FileAttrs field
// numbered 20 or more (the volatile ones, by the proto's convention:
// times, inode, device, the content change) to random values, and checks
// that the digest does not move. A field added there later is covered
// without touching this test. The content change is also tried in every
// state, with random diffs.
func TestDigestIgnoresEveryVolatileFileField(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	base := file("/etc/app.conf", 7, 0o644, 0)
	want := Digest(base)

	fields := base.GetFile().ProtoReflect().Descriptor().Fields()
	volatile := 0
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.Number() < 20 {
			continue
		}
		volatile++
		for range 50 {
			f := proto.CloneOf(base)
			m := f.GetFile().ProtoReflect()
			m.Set(fd, randomValue(r, m, fd))
			if got := Digest(f); !bytes.Equal(got, want) {
				t.Fatalf("FileAttrs.%s = %v changed the digest", fd.Name(), m.Get(fd))
			}
		}
	}
	if volatile < 5 {
		t.Fatalf("found %d FileAttrs fields numbered 20 or more, want mtime, ctime, inode, device and content", volatile)
	}
	for range 200 {
		f := proto.CloneOf(base)
		f.GetFile().Content = &plumbv1.ContentChange{
			State:       plumbv1.ContentState(r.IntN(5)),
			UnifiedDiff: "--- a\n+++ b\n@@ -1 +1 @@\n-" + randomText(r) + "\n+" + randomText(r) + "\n",
			Redacted:    r.IntN(2) == 0,
		}
		if !bytes.Equal(Digest(f), want) {
			t.Fatalf("content change %v changed the digest", f.GetFile().GetContent())
		}
	}
}

func randomText(r *rand.Rand) string {
	b := make([]byte, r.IntN(64))
	for i := range b {
		b[i] = byte('a' + r.IntN(26))
	}
	return string(b)
}

// randomValue returns a random non-zero value for field fd of m.
func randomValue(r *rand.Rand, m protoreflect.Message, fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(1 + r.Int64N(1<<62))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(1 + r.Uint64N(1<<62))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(1 + r.Int32N(1<<30))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(1 + r.Uint32N(1<<30))
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.StringKind:
		return protoreflect.ValueOfString("x" + randomText(r))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte("x" + randomText(r)))
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(1)
	case protoreflect.MessageKind:
		v := m.NewField(fd)
		sub := v.Message()
		sf := sub.Descriptor().Fields()
		for i := range sf.Len() {
			if sf.Get(i).Cardinality() != protoreflect.Repeated {
				sub.Set(sf.Get(i), randomValue(r, sub, sf.Get(i)))
			}
		}
		return v
	}
	panic("field kind not handled: " + fd.Kind().String())
}
