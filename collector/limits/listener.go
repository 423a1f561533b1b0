package limits

import (
	"errors"
	"net"
	"sync"
)

// Listener wraps a net.Listener: a connection beyond the per-address or
// total cap is closed as soon as it is accepted, before any handshake, so
// one peer cannot hold the collector's connections or the memory each
// costs.
type Listener struct {
	net.Listener
	perIP, total int
	metrics      *Metrics

	mu    sync.Mutex
	open  int            // guarded by mu
	byIP  map[string]int // guarded by mu
	onErr func(addr string, limit string)
}

// NewListener caps ln at perIP connections per remote IP and total in all.
// onRefuse (may be nil) is called for each connection closed at accept,
// e.g. to log it.
func NewListener(ln net.Listener, perIP, total int, m *Metrics, onRefuse func(addr, limit string)) *Listener {
	return &Listener{Listener: ln, perIP: perIP, total: total, metrics: m, byIP: map[string]int{}, onErr: onRefuse}
}

// Accept returns the next connection within the caps.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c.RemoteAddr())
		if limit := l.admit(ip); limit != "" {
			l.metrics.Reject(limit)
			if l.onErr != nil {
				l.onErr(c.RemoteAddr().String(), limit)
			}
			c.Close()
			continue
		}
		return &conn{Conn: c, release: func() { l.release(ip) }}, nil
	}
}

// Open returns how many accepted connections are open.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

func (l *Listener) admit(ip string) (limit string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.open >= l.total:
		return Connections
	case l.byIP[ip] >= l.perIP:
		return ConnectionsPerIP
	}
	l.open++
	l.byIP[ip]++
	return ""
}

func (l *Listener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
}

func remoteIP(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// conn releases its slot once, on the first Close.
type conn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
