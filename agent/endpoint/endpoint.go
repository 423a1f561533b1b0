// Package endpoint owns the agent's list of collectors: the addresses the
// operator configured (each host:port, a DNS name or an IP), their
// resolution into the endpoints the agent connects to — again at every
// round of attempts, since a fleet's DNS changes — and the order it tries
// them in, which spreads agents across collectors. It dials an endpoint
// by its IP while speaking to it under the configured name, so TLS (SNI,
// the :authority) sees the name the operator wrote, not the address.
package endpoint

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Bounds on what DNS may hand the agent: an answer is input from the
// network like any other.
const (
	// MaxAddresses bounds the configured list.
	MaxAddresses = 64
	// MaxPerName bounds the endpoints one name resolves to.
	MaxPerName = 32
	// lookupTimeout bounds one name's resolution.
	lookupTimeout = 5 * time.Second
)

// Endpoint is one collector to try: Address as configured (a metric label
// and the TLS server name) and Dial, the IP:port to connect to.
type Endpoint struct {
	Address string
	Dial    string
}

func (e Endpoint) String() string {
	if e.Address == e.Dial {
		return e.Address
	}
	return e.Address + " (" + e.Dial + ")"
}

// LookupFunc resolves a host name to IP addresses, as
// net.Resolver.LookupHost does; tests point it at names they control.
type LookupFunc func(ctx context.Context, host string) ([]string, error)

// Options configures a List.
type Options struct {
	// Seed orders the endpoints: agents with different seeds (the host
	// id's hash, see Seed) try collectors in different orders.
	Seed uint64
	// Lookup resolves names; nil is net.DefaultResolver.LookupHost.
	Lookup LookupFunc
	// DialOptions go to every connection (credentials, above all).
	DialOptions []grpc.DialOption
}

// List is a validated list of collector addresses.
type List struct {
	addrs []address
	opts  Options
}

type address struct {
	text       string // host:port as configured, host lowercased
	host, port string
	ip         netip.Addr // valid if host is an IP literal
}

// Seed derives an ordering seed from a host id, so that an agent keeps
// the same order across restarts and different hosts spread.
func Seed(hostID string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(hostID))
	return h.Sum64()
}

// Parse validates configured addresses: every entry host:port with a
// numeric port, a host that is an IP or a DNS name, no empty entries, no
// duplicates. Surrounding spaces are trimmed.
func Parse(entries []string) ([]string, error) {
	var errs []error
	var out []string
	seen := map[string]int{}
	if len(entries) == 0 {
		return nil, errors.New("collector: at least one address required (host:port)")
	}
	if len(entries) > MaxAddresses {
		return nil, fmt.Errorf("collector: %d addresses, at most %d", len(entries), MaxAddresses)
	}
	for i, e := range entries {
		a, err := parseOne(e)
		if err != nil {
			errs = append(errs, fmt.Errorf("collector address %d %q: %w", i+1, e, err))
			continue
		}
		if j, dup := seen[a.text]; dup {
			errs = append(errs, fmt.Errorf("collector address %d %q: duplicate of address %d", i+1, e, j))
			continue
		}
		seen[a.text] = i + 1
		out = append(out, a.text)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func parseOne(entry string) (address, error) {
	e := strings.TrimSpace(entry)
	if e == "" {
		return address{}, errors.New("empty (a stray comma?)")
	}
	host, port, err := net.SplitHostPort(e)
	if err != nil {
		return address{}, errors.New("want host:port (an IPv6 address in brackets, [::1]:7700)")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return address{}, fmt.Errorf("port %q: want a number from 1 to 65535", port)
	}
	if host == "" {
		return address{}, errors.New("host missing")
	}
	a := address{host: strings.ToLower(host), port: port}
	if ip, err := netip.ParseAddr(host); err == nil {
		a.ip = ip
		a.host = ip.String()
	} else if err := checkName(host); err != nil {
		return address{}, err
	}
	a.text = net.JoinHostPort(a.host, a.port)
	return a, nil
}

// checkName accepts DNS names (letters, digits, '-', '_', dots between
// labels of at most 63 bytes).
func checkName(h string) error {
	if len(h) > 253 {
		return fmt.Errorf("host name of %d bytes, at most 253", len(h))
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("host %q: not an IP address or a DNS name (empty or over-long label)", h)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return fmt.Errorf("host %q: not an IP address or a DNS name (character %q)", h, r)
			}
		}
	}
	return nil
}

// New returns a List of addresses, which Parse validates.
func New(entries []string, o Options) (*List, error) {
	texts, err := Parse(entries)
	if err != nil {
		return nil, err
	}
	if o.Lookup == nil {
		o.Lookup = net.DefaultResolver.LookupHost
	}
	l := &List{opts: o}
	for _, t := range texts {
		a, _ := parseOne(t)
		l.addrs = append(l.addrs, a)
	}
	return l, nil
}

// Addresses returns the configured addresses, normalized, in order.
func (l *List) Addresses() []string {
	out := make([]string, len(l.addrs))
	for i, a := range l.addrs {
		out[i] = a.text
	}
	return out
}

// Endpoints resolves every address and returns the endpoints in this
// agent's order. A name that does not resolve is left out and named in
// the error; the endpoints of the others still come back, so one broken
// DNS entry does not stop the agent reaching the rest.
//
// The order is rendezvous hashing: endpoints sorted by a hash of (seed,
// endpoint). Every agent has its own order, uniform across agents, so a
// fleet spreads evenly; an agent's order does not move when DNS rotates
// its answers; and when a collector goes away only its own agents move,
// each to its own next choice, spreading them over the survivors instead
// of all onto one.
func (l *List) Endpoints(ctx context.Context) ([]Endpoint, error) {
	var errs []error
	var out []Endpoint
	seen := map[string]bool{}
	add := func(a address, ip netip.Addr) {
		d := net.JoinHostPort(ip.String(), a.port)
		if seen[d] {
			return
		}
		seen[d] = true
		out = append(out, Endpoint{Address: a.text, Dial: d})
	}
	for _, a := range l.addrs {
		if a.ip.IsValid() {
			add(a, a.ip)
			continue
		}
		ips, err := l.lookup(ctx, a.host)
		if err != nil {
			errs = append(errs, fmt.Errorf("resolve %s: %w", a.host, err))
			continue
		}
		for _, ip := range ips {
			add(a, ip)
		}
	}
	slices.SortStableFunc(out, func(x, y Endpoint) int {
		hx, hy := l.rank(x), l.rank(y)
		switch {
		case hx < hy:
			return -1
		case hx > hy:
			return 1
		}
		return strings.Compare(x.Dial, y.Dial)
	})
	return out, errors.Join(errs...)
}

// lookup resolves one name, keeping at most MaxPerName well-formed IPs.
func (l *List) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	raw, err := l.opts.Lookup(ctx, host)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	for _, r := range raw {
		ip, err := netip.ParseAddr(r)
		if err != nil || ip.IsUnspecified() || ip.IsMulticast() {
			continue // not an address to dial
		}
		ips = append(ips, ip.Unmap())
		if len(ips) == MaxPerName {
			break
		}
	}
	if len(ips) == 0 {
		return nil, errors.New("no usable addresses")
	}
	return ips, nil
}

func (l *List) rank(e Endpoint) uint64 {
	h := fnv.New64a()
	var b [8]byte
	for i := range b {
		b[i] = byte(l.opts.Seed >> (8 * i))
	}
	h.Write(b[:])
	h.Write([]byte(e.Dial))
	return mix(h.Sum64())
}

// mix spreads FNV's output (whose high bits vary little for keys that
// differ in their last bytes) over all 64 bits: splitmix64's finalizer.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// keepaliveParams let the agent notice a collector that went silent
// (powered off, a network path gone) within about 30s even when no delta
// is in flight. The collector permits pings every 10s.
var keepaliveParams = keepalive.ClientParameters{Time: 20 * time.Second, Timeout: 10 * time.Second}

// Dial returns a connection to e: to its IP, under its configured name
// (the :authority, and so the TLS server name). It does not connect yet.
func (l *List) Dial(e Endpoint, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	opts := append([]grpc.DialOption{
		grpc.WithAuthority(e.Address),
		grpc.WithKeepaliveParams(keepaliveParams),
	}, l.opts.DialOptions...)
	opts = append(opts, extra...)
	return grpc.NewClient("passthrough:///"+e.Dial, opts...)
}
