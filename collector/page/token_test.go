package page

import (
	"bytes"
	"errors"
	"testing"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

func TestTokenRoundTrip(t *testing.T) {
	fp := FingerprintOf(&plumbv1.ListDriftRequest{HostId: "web-1", KeyGlob: "/etc/**"})
	for _, key := range [][]byte{{0}, []byte("web-1"), bytes.Repeat([]byte{0xff}, MaxKeyBytes)} {
		tok := Encode(Drift, fp, key)
		got, err := Decode(tok, Drift, fp)
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("Decode(Encode(%x)) = %x, %v", key[:min(len(key), 8)], got[:min(len(got), 8)], err)
		}
	}
	if Encode(Drift, fp, nil) != "" {
		t.Error("no key (the list ended) must encode as no token")
	}
	if k, err := Decode("", Drift, fp); k != nil || err != nil {
		t.Errorf("the empty token is the first page: %v, %v", k, err)
	}
}

func TestFingerprintIgnoresPaging(t *testing.T) {
	a := FingerprintOf(&plumbv1.ListHostsRequest{LabelSelector: "env=prod", PageSize: 3, PageToken: "x"})
	b := FingerprintOf(&plumbv1.ListHostsRequest{LabelSelector: "env=prod", PageSize: 90})
	c := FingerprintOf(&plumbv1.ListHostsRequest{LabelSelector: "env=dev"})
	d := FingerprintOf(&plumbv1.ListAPITokensRequest{})
	e := FingerprintOf(&plumbv1.ListSilencesRequest{})
	if a != b {
		t.Error("page_size and page_token changed the fingerprint")
	}
	if a == c || d == e {
		t.Error("different filters, or different requests, share a fingerprint")
	}
}

func TestSize(t *testing.T) {
	for _, tc := range []struct {
		asked uint32
		want  int
		err   bool
	}{{0, 100, false}, {1, 1, false}, {500, 500, false}, {501, 0, true}, {1 << 31, 0, true}} {
		got, err := Size(tc.asked, 100, 500)
		if got != tc.want || (err != nil) != tc.err || (err != nil && !errors.Is(err, ErrSize)) {
			t.Errorf("Size(%d) = %d, %v", tc.asked, got, err)
		}
	}
}

// FuzzDecode: Decode never panics, refuses with ErrToken, bounds the key,
// and what it accepts is what Encode would issue.
func FuzzDecode(f *testing.F) {
	fp := FingerprintOf(&plumbv1.ListFactsRequest{HostId: "web-1"})
	f.Add(Encode(Facts, fp, []byte("\x01/etc/passwd")))
	f.Add(Encode(Hosts, fp, []byte("web-1")))
	f.Add(Encode(Facts, FingerprintOf(&plumbv1.ListFactsRequest{}), []byte("x")))
	f.Add("")
	f.Add("!!")
	f.Add("AQI")
	f.Fuzz(func(t *testing.T, tok string) {
		key, err := Decode(tok, Facts, fp)
		if err != nil {
			if !errors.Is(err, ErrToken) {
				t.Fatalf("error %v is not ErrToken", err)
			}
			return
		}
		if tok == "" {
			if key != nil {
				t.Fatal("empty token gave a key")
			}
			return
		}
		if len(key) > MaxKeyBytes {
			t.Fatalf("key of %d bytes", len(key))
		}
		if again := Encode(Facts, fp, key); again != tok {
			t.Fatalf("accepted %q, which re-encodes as %q", tok, again)
		}
	})
}
