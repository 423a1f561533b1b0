package fact

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"math/big"
	"testing"
	"unicode/utf8"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

func file(key string, sha byte, mode uint32, mtime int64) *plumbv1.Fact {
	return &plumbv1.Fact{
		Kind: plumbv1.FactKind_FACT_KIND_FILE,
		Key:  []byte(key),
		Attrs: &plumbv1.Fact_File{File: &plumbv1.FileAttrs{
			Type: plumbv1.FileType_FILE_TYPE_REGULAR, Mode: mode, Size: 10,
			Sha256: bytes.Repeat([]byte{sha}, 32), MtimeUnixNano: mtime, Inode: uint64(mtime),
		}},
		ObservedUnixNano: mtime,
	}
}

func TestDigestIgnoresVolatileAttributes(t *testing.T) {
	a, b := Digest(file("/etc/x", 1, 0o644, 1)), Digest(file("/etc/x", 1, 0o644, 99))
	if !bytes.Equal(a, b) {
		t.Fatal("mtime/inode/observed time changed the digest")
	}
	for name, other := range map[string]*plumbv1.Fact{
		"content": file("/etc/x", 2, 0o644, 1),
		"mode":    file("/etc/x", 1, 0o600, 1),
		"key":     file("/etc/y", 1, 0o644, 1),
	} {
		if bytes.Equal(a, Digest(other)) {
			t.Errorf("a different %s gave the same digest", name)
		}
	}
}

func TestDigestSeparatesFields(t *testing.T) {
	// Length prefixes keep ("ab","c") apart from ("a","bc").
	p := func(v, arch string) []byte {
		return Digest(&plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_PACKAGE, Key: []byte("k"),
			Attrs: &plumbv1.Fact_Package{Package: &plumbv1.PackageAttrs{Version: v, Arch: arch}}})
	}
	if bytes.Equal(p("ab", "c"), p("a", "bc")) {
		t.Fatal("field boundaries are ambiguous")
	}
}

// The canonical encoding is a contract between agents and collectors of
// different versions: this digest must never change.
func TestDigestIsStable(t *testing.T) {
	got := fmt.Sprintf("%x", Digest(file("/etc/hosts", 7, 0o644, 5)))
	if got != goldenDigest {
		t.Fatalf("canonical digest changed:\n got %s\nwant %s\n(bump digestVersion with a migration if intended)", got, goldenDigest)
	}
}

func TestSetDigestIsOrderIndependentAndReversible(t *testing.T) {
	var a, b SetDigest
	keys := []Key{}
	for i := range 300 {
		keys = append(keys, Key{Kind: plumbv1.FactKind_FACT_KIND_FILE, ID: fmt.Sprintf("/f/%d", i)})
	}
	d := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 32) }
	for i, k := range keys {
		a.Add(k, d(i))
	}
	for i := len(keys) - 1; i >= 0; i-- {
		b.Add(keys[i], d(i))
	}
	if !bytes.Equal(a.Sum(), b.Sum()) {
		t.Fatal("order changed the set digest")
	}
	var empty SetDigest
	before := a.Sum()
	a.Replace(keys[3], d(3), d(200))
	if bytes.Equal(before, a.Sum()) {
		t.Fatal("replacing a value did not change the digest")
	}
	if diff := a.DiffBuckets(b.Buckets()); len(diff) != 1 || diff[0] != keys[3].Bucket() {
		t.Fatalf("DiffBuckets = %v, want [%d]", diff, keys[3].Bucket())
	}
	a.Replace(keys[3], d(200), d(3))
	if !bytes.Equal(before, a.Sum()) {
		t.Fatal("Replace is not reversible")
	}
	for i, k := range keys {
		a.Remove(k, d(i))
	}
	if !bytes.Equal(a.Sum(), empty.Sum()) {
		t.Fatal("removing everything does not give the empty digest")
	}
	raw, _ := b.MarshalBinary()
	var c SetDigest
	if err := c.UnmarshalBinary(raw); err != nil || !bytes.Equal(c.Sum(), b.Sum()) {
		t.Fatalf("binary round trip: %v", err)
	}
	if err := c.UnmarshalBinary(raw[:10]); err == nil {
		t.Fatal("short input accepted")
	}
}

// The limb arithmetic must agree with big.Int mod 2^256.
func TestSum256AgainstBigInt(t *testing.T) {
	mod := new(big.Int).Lsh(big.NewInt(1), 256)
	for range 2000 {
		x, y := randBytes(t), randBytes(t)
		if x[0]%4 == 0 {
			for j := range x { // exercise carries: all ones
				x[j] = 0xff
			}
		}
		bx, by := new(big.Int).SetBytes(x), new(big.Int).SetBytes(y)
		s := fromBytes(x)
		s.add(fromBytes(y))
		want := new(big.Int).Mod(new(big.Int).Add(bx, by), mod)
		if got := new(big.Int).SetBytes(s.bytes()); got.Cmp(want) != 0 {
			t.Fatalf("add(%x, %x) = %x, want %x", x, y, got, want)
		}
		s = fromBytes(x)
		s.sub(fromBytes(y))
		want = new(big.Int).Mod(new(big.Int).Sub(bx, by), mod)
		if got := new(big.Int).SetBytes(s.bytes()); got.Cmp(want) != 0 {
			t.Fatalf("sub(%x, %x) = %x, want %x", x, y, got, want)
		}
	}
}

func randBytes(t *testing.T) []byte {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDisplayRoundTrip(t *testing.T) {
	for _, tc := range []struct{ raw, shown string }{
		{"/etc/hosts", "/etc/hosts"},
		{"/etc/caf\xe9", `/etc/caf\xe9`},
		{"/a\\b", `/a\\b`},
		{"/tab\there", `/tab\x09here`},
		{"/ünïcode", "/ünïcode"},
		{"/lit\\xff", `/lit\\xff`},
		{"/csi\u009b2J", `/csi\u009b2J`},
		{"/evil\u202egnp.exe", `/evil\u202egnp.exe`},
		{"/zw\u200bsp", `/zw\u200bsp`},
	} {
		if got := Display([]byte(tc.raw)); got != tc.shown {
			t.Errorf("Display(%q) = %q, want %q", tc.raw, got, tc.shown)
		}
		back, err := ParseDisplay(tc.shown)
		if err != nil || string(back) != tc.raw {
			t.Errorf("ParseDisplay(%q) = %q, %v; want %q", tc.shown, back, err, tc.raw)
		}
	}
	// `\x4g`, `\x 1` and `\x1 ` were once read as one byte each (fmt.Sscanf
	// takes fewer than two digits), so --key named a different fact.
	for _, bad := range []string{`\`, `\q`, `\x`, `\xZZ`, `/a\x1`, `\x4g`, `\x 1`, `\x1 `, `\ud800`} {
		if _, err := ParseDisplay(bad); err == nil {
			t.Errorf("ParseDisplay(%q) accepted a bad escape", bad)
		}
	}
}

func FuzzDisplayRoundTrip(f *testing.F) {
	for _, s := range []string{"/etc/x", "\xff\xfe", `\\x41`, "a\x00b", "\x1b[2J", "\u009b", "\u202e", "\u200b"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		shown := Display(raw)
		if !utf8.ValidString(shown) {
			t.Fatalf("Display(%q) = %q is not UTF-8", raw, shown)
		}
		for i, r := range shown {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) ||
				(r >= 0x2066 && r <= 0x2069) || r == 0x200b || r == 0x200d || r == 0xfeff {
				t.Fatalf("Display(%q) = %q: raw %U at offset %d", raw, shown, r, i)
			}
		}
		back, err := ParseDisplay(shown)
		if err != nil || !bytes.Equal(back, raw) {
			t.Fatalf("round trip %q -> %q -> %q, %v", raw, shown, back, err)
		}
	})
}

// FuzzParseDisplay checks that text ParseDisplay accepts comes back
// unchanged through Display and ParseDisplay, and that display form is a
// fixed point: Display(ParseDisplay(Display(b))) == Display(b).
func FuzzParseDisplay(f *testing.F) {
	for _, s := range []string{"/etc/x", `/caf\xe9`, `\\`, `\x4g`, `\x 1`, `\u009b`, `\U000e0041`, `\ud800`, `\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		raw, err := ParseDisplay(s)
		if err != nil {
			return
		}
		shown := Display(raw)
		again, err := ParseDisplay(shown)
		if err != nil || !bytes.Equal(again, raw) {
			t.Fatalf("%q -> %q -> %q -> %q, %v", s, raw, shown, again, err)
		}
		if Display(again) != shown {
			t.Fatalf("display form of %q not stable: %q then %q", raw, shown, Display(again))
		}
	})
}

func TestKeyEncodingAndKinds(t *testing.T) {
	k := Key{Kind: plumbv1.FactKind_FACT_KIND_SYSCTL, ID: "net.ipv4.ip_forward"}
	got, err := DecodeKey(k.Encode())
	if err != nil || got != k {
		t.Fatalf("DecodeKey(Encode(%v)) = %v, %v", k, got, err)
	}
	if _, err := DecodeKey(nil); err == nil {
		t.Fatal("empty key decoded")
	}
	for kind := plumbv1.FactKind_FACT_KIND_FILE; kind <= plumbv1.FactKind_FACT_KIND_SYSCTL; kind++ {
		back, err := ParseKind(KindName(kind))
		if err != nil || back != kind {
			t.Errorf("ParseKind(KindName(%v)) = %v, %v", kind, back, err)
		}
	}
	if _, err := ParseKind("bogus"); err == nil {
		t.Fatal("unknown kind accepted")
	}
}

// TestDigestOfEveryKindIsStable holds the digest of one fact of each kind
// (and a file whose encoding is past 512 bytes) to values computed by the
// first implementation, which hashed field by field.
func TestDigestOfEveryKindIsStable(t *testing.T) {
	long := file("/srv/link", 0, 0o777, 4000)
	long.GetFile().Type = plumbv1.FileType_FILE_TYPE_SYMLINK
	long.GetFile().LinkTarget = bytes.Repeat([]byte("../"), 300)
	cases := map[string]*plumbv1.Fact{
		"long symlink": long,
		"package": {Kind: plumbv1.FactKind_FACT_KIND_PACKAGE, Key: []byte("dpkg:bash:amd64"),
			Attrs: &plumbv1.Fact_Package{Package: &plumbv1.PackageAttrs{Version: "5.2.15-2+b2", Arch: "amd64", Manager: "dpkg"}}},
		"conffile": {Kind: plumbv1.FactKind_FACT_KIND_CONFFILE, Key: []byte("/etc/bash.bashrc"),
			Attrs: &plumbv1.Fact_Conffile{Conffile: &plumbv1.ConffileAttrs{Package: "bash", Algorithm: "md5",
				Digest: bytes.Repeat([]byte{0xab}, 16), Present: true, Matches: true, Manager: "dpkg"}}},
		"value": {Kind: plumbv1.FactKind_FACT_KIND_SYSCTL, Key: []byte("net.ipv4.ip_forward"),
			Attrs: &plumbv1.Fact_Value{Value: &plumbv1.ValueAttrs{Value: "1"}}},
		"kmod": {Kind: plumbv1.FactKind_FACT_KIND_KMOD, Key: []byte("ext4"),
			Attrs: &plumbv1.Fact_Kmod{Kmod: &plumbv1.KmodAttrs{Size: 1 << 20}}},
	}
	want := map[string]string{
		"long symlink": "ee0c70444b151253b1cb4a63e17eb728627ecd4f43eb8d43aca0b86112827729",
		"package":      "1de70e4f95735abb1a9d2ef658c1df1297490198975fc772c5639e980b2df5b5",
		"conffile":     "05377b80be7caa61dafe89bb428c37cf20eb36683f38627849a362103e311aed",
		"value":        "fd19fe46f459ba42556b67d0e3a4c84272bd62b651f0f3d6a294a1a4b5ee72d7",
		"kmod":         "651e565ea31aa24ad054c5cfecd4b8fec6fa11bd3dab4e39eb415c09dab17c0d",
	}
	for name, f := range cases {
		if got := fmt.Sprintf("%x", Digest(f)); got != want[name] {
			t.Errorf("%s: canonical digest changed:\n got %s\nwant %s", name, got, want[name])
		}
	}
}

// BenchmarkDigest seals a file fact as a scan does: its canonical
// encoding is built on the stack, so the digest is the one allocation.
func BenchmarkDigest(b *testing.B) {
	f := &plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte("/etc/ssh/sshd_config"),
		Attrs: &plumbv1.Fact_File{File: &plumbv1.FileAttrs{Type: plumbv1.FileType_FILE_TYPE_REGULAR, Mode: 0o644,
			Size: 3223, Sha256: bytes.Repeat([]byte{7}, 32)}}}
	b.ReportAllocs()
	for b.Loop() {
		Digest(f)
	}
}

func TestDigestAllocatesOnlyItsSum(t *testing.T) {
	f := &plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte("/etc/ssh/sshd_config"),
		Attrs: &plumbv1.Fact_File{File: &plumbv1.FileAttrs{Type: plumbv1.FileType_FILE_TYPE_REGULAR, Mode: 0o644,
			Size: 3223, Sha256: bytes.Repeat([]byte{7}, 32)}}}
	if n := testing.AllocsPerRun(100, func() { Digest(f) }); n > 1 {
		t.Errorf("Digest of a short fact: %v allocations, want 1 (the sum)", n)
	}
}
