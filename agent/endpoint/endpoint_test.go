package endpoint

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string // joined result, or an error substring
		err  bool
	}{
		{[]string{"127.0.0.1:7700"}, "127.0.0.1:7700", false},
		{[]string{" a.example:7700 ", "B.example:7701"}, "a.example:7700,b.example:7701", false},
		{[]string{"[::1]:7700", "[2001:db8::1]:1"}, "[::1]:7700,[2001:db8::1]:1", false},
		{[]string{"collector_1.internal:7700"}, "collector_1.internal:7700", false},
		{nil, "at least one address", true},
		{[]string{"a:7700", ""}, "address 2 \"\": empty", true},
		{[]string{"a:7700", "  "}, "empty", true},
		{[]string{"a"}, "want host:port", true},
		{[]string{"::1:7700"}, "want host:port", true},
		{[]string{"a:0"}, "want a number from 1 to 65535", true},
		{[]string{"a:70000"}, "want a number from 1 to 65535", true},
		{[]string{"a:http"}, "want a number", true},
		{[]string{":7700"}, "host missing", true},
		{[]string{"a b:7700"}, "not an IP address or a DNS name", true},
		{[]string{"a..b:7700"}, "empty or over-long label", true},
		{[]string{strings.Repeat("a", 64) + ".x:7700"}, "over-long label", true},
		{[]string{"a:7700", "A:7700"}, "address 2 \"A:7700\": duplicate of address 1", true},
		{[]string{"[::1]:7700", "[0:0::1]:7700"}, "duplicate of address 1", true},
	} {
		got, err := Parse(tc.in)
		if tc.err {
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.want)
			}
			continue
		}
		if err != nil || strings.Join(got, ",") != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	many := make([]string, MaxAddresses+1)
	for i := range many {
		many[i] = fmt.Sprintf("10.0.0.%d:7700", i)
	}
	if _, err := Parse(many); err == nil {
		t.Errorf("%d addresses accepted", len(many))
	}
}

// fakeDNS answers from a map the test controls.
type fakeDNS map[string][]string

func (d fakeDNS) lookup(_ context.Context, host string) ([]string, error) {
	ips, ok := d[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return ips, nil
}

func dials(eps []Endpoint) []string {
	var out []string
	for _, e := range eps {
		out = append(out, e.Dial)
	}
	return out
}

func TestEndpointsResolveEachRound(t *testing.T) {
	dns := fakeDNS{"fleet.test": {"10.0.0.1", "10.0.0.2"}}
	l, err := New([]string{"fleet.test:7700", "10.9.9.9:7701"}, Options{Seed: 1, Lookup: dns.lookup})
	if err != nil {
		t.Fatal(err)
	}
	eps, err := l.Endpoints(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := dials(eps)
	slices.Sort(got)
	if strings.Join(got, ",") != "10.0.0.1:7700,10.0.0.2:7700,10.9.9.9:7701" {
		t.Fatalf("endpoints %v", got)
	}
	for _, e := range eps {
		if want := map[bool]string{true: "10.9.9.9:7701", false: "fleet.test:7700"}[e.Dial == "10.9.9.9:7701"]; e.Address != want {
			t.Fatalf("endpoint %s carries address %s, want %s", e.Dial, e.Address, want)
		}
	}
	// The fleet's DNS changes: the next round sees it.
	dns["fleet.test"] = []string{"10.0.0.3"}
	eps, err = l.Endpoints(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := dials(eps); !slices.Contains(got, "10.0.0.3:7700") || slices.Contains(got, "10.0.0.1:7700") || len(got) != 2 {
		t.Fatalf("after the DNS change: %v", got)
	}
	// A name that stops resolving is reported; the rest still come back.
	delete(dns, "fleet.test")
	eps, err = l.Endpoints(context.Background())
	if err == nil || !strings.Contains(err.Error(), "fleet.test") {
		t.Fatalf("unresolvable name: err %v", err)
	}
	if got := dials(eps); len(got) != 1 || got[0] != "10.9.9.9:7701" {
		t.Fatalf("with one name failing: %v", got)
	}
}

// DNS answers are hostile input: garbage is dropped, the count bounded,
// duplicates (two names for one collector) kept once.
func TestEndpointsBoundDNSAnswers(t *testing.T) {
	var many []string
	for i := range 1000 {
		many = append(many, fmt.Sprintf("10.1.%d.%d", i/256, i%256))
	}
	dns := fakeDNS{
		"big.test":   many,
		"bad.test":   {"not-an-ip", "0.0.0.0", "224.0.0.1", "", "::ffff:10.2.0.1"},
		"alias.test": {"10.2.0.1"},
		"none.test":  {"garbage"},
	}
	l, err := New([]string{"big.test:1", "bad.test:2", "alias.test:2", "none.test:3"}, Options{Lookup: dns.lookup})
	if err != nil {
		t.Fatal(err)
	}
	eps, err := l.Endpoints(context.Background())
	if err == nil || !strings.Contains(err.Error(), "none.test: no usable addresses") {
		t.Fatalf("err %v", err)
	}
	got := dials(eps)
	if len(got) != MaxPerName+1 || !slices.Contains(got, "10.2.0.1:2") {
		t.Fatalf("%d endpoints (want %d): %v", len(got), MaxPerName+1, got)
	}
}

func TestEndpointsLookupIsBounded(t *testing.T) {
	slow := func(ctx context.Context, host string) ([]string, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	l, _ := New([]string{"slow.test:1", "127.0.0.1:2"}, Options{Lookup: slow})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	eps, err := l.Endpoints(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || len(eps) != 1 {
		t.Fatalf("slow DNS: %v, %v", eps, err)
	}
}

// The order is stable for one agent whatever order DNS answers in, and
// different agents put different collectors first, about evenly.
func TestEndpointOrderSpreadsAgents(t *testing.T) {
	dns := fakeDNS{"fleet.test": {"10.0.0.1", "10.0.0.2", "10.0.0.3"}}
	first := map[string]int{}
	const agents = 3000
	for i := range agents {
		seed := Seed(fmt.Sprintf("host-%d", i))
		l, _ := New([]string{"fleet.test:7700"}, Options{Seed: seed, Lookup: dns.lookup})
		a, _ := l.Endpoints(context.Background())
		dns["fleet.test"] = []string{"10.0.0.3", "10.0.0.1", "10.0.0.2"}
		b, _ := l.Endpoints(context.Background())
		dns["fleet.test"] = []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}
		if !slices.Equal(dials(a), dials(b)) {
			t.Fatalf("seed %d: order moved with the DNS answer order: %v then %v", seed, dials(a), dials(b))
		}
		first[a[0].Dial]++
	}
	for d, n := range first {
		if n < agents/3*8/10 || n > agents/3*12/10 {
			t.Errorf("%d of %d agents try %s first, want about a third: %v", n, agents, d, first)
		}
	}
	if len(first) != 3 {
		t.Fatalf("first choices %v", first)
	}
}

// When a collector goes away, only the agents that preferred it move,
// and they spread over the rest rather than all landing on one.
func TestEndpointOrderMovesOnlyTheDeadCollectorsAgents(t *testing.T) {
	four := fakeDNS{"fleet.test": {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"}}
	three := fakeDNS{"fleet.test": {"10.0.0.1", "10.0.0.2", "10.0.0.3"}}
	moved := map[string]int{}
	for i := range 2000 {
		seed := Seed(fmt.Sprintf("host-%d", i))
		a, _ := New([]string{"fleet.test:7700"}, Options{Seed: seed, Lookup: four.lookup})
		b, _ := New([]string{"fleet.test:7700"}, Options{Seed: seed, Lookup: three.lookup})
		ea, _ := a.Endpoints(context.Background())
		eb, _ := b.Endpoints(context.Background())
		if ea[0].Dial != "10.0.0.4:7700" {
			if ea[0].Dial != eb[0].Dial {
				t.Fatalf("seed %d moved from %s to %s though its collector stayed", seed, ea[0].Dial, eb[0].Dial)
			}
			continue
		}
		if eb[0].Dial != ea[1].Dial {
			t.Fatalf("seed %d: first choice gone, went to %s, not its second choice %s", seed, eb[0].Dial, ea[1].Dial)
		}
		moved[eb[0].Dial]++
	}
	if len(moved) != 3 {
		t.Fatalf("the dead collector's agents went to %v, want all three survivors", moved)
	}
}

// Dial connects to the IP but verifies TLS against the configured name:
// a certificate for collector.test, served on 127.0.0.1, is accepted by
// standard verification.
func TestDialVerifiesTheConfiguredName(t *testing.T) {
	cert, pool := selfSigned(t, "collector.test")
	var sni = make(chan string, 4)
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		sni <- h.ServerName
		return nil, nil
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(tlsCfg)))
	healthpb.RegisterHealthServer(gs, health.NewServer())
	go gs.Serve(ln)
	defer gs.Stop()
	port := ln.Addr().(*net.TCPAddr).Port
	dns := fakeDNS{"collector.test": {"127.0.0.1"}}
	l, err := New([]string{fmt.Sprintf("collector.test:%d", port)}, Options{Lookup: dns.lookup,
		DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool}))}})
	if err != nil {
		t.Fatal(err)
	}
	eps, err := l.Endpoints(context.Background())
	if err != nil || len(eps) != 1 {
		t.Fatal(eps, err)
	}
	conn, err := l.Dial(eps[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health check over TLS to %s: %v", eps[0], err)
	}
	if got := <-sni; got != "collector.test" {
		t.Fatalf("TLS server name %q, want collector.test", got)
	}
}

func selfSigned(t *testing.T, name string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
		IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
