package limits

import (
	"net"
	"testing"
	"time"
)

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByPeer reports whether the server closed c (a read sees EOF).
func closedByPeer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return err != nil
}

func TestListenerCapsPerIPAndReleases(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(nil)
	ln := NewListener(inner, 2, 10, m, nil)
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	a, b := dial(t, ln.Addr().String()), dial(t, ln.Addr().String())
	sa, sb := <-accepted, <-accepted
	third := dial(t, ln.Addr().String())
	if !closedByPeer(third) {
		t.Fatal("a third connection from one address was not closed")
	}
	if got := m.Rejected(ConnectionsPerIP); got != 1 {
		t.Fatalf("rejections{connections_per_ip} = %v, want 1", got)
	}
	if closedByPeer(a) || closedByPeer(b) {
		t.Fatal("admitted connections were closed")
	}
	sa.Close()
	sa.Close() // a second close releases nothing more
	dial(t, ln.Addr().String())
	select {
	case <-accepted:
	case <-time.After(2 * time.Second):
		t.Fatal("a connection after one closed was not admitted")
	}
	if ln.Open() != 2 {
		t.Fatalf("open = %d, want 2", ln.Open())
	}
	sb.Close()
}

func TestListenerCapsTotal(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(nil)
	ln := NewListener(inner, 100, 1, m, nil)
	defer ln.Close()
	go func() {
		for {
			if _, err := ln.Accept(); err != nil {
				return
			}
		}
	}()
	dial(t, ln.Addr().String())
	time.Sleep(50 * time.Millisecond)
	if !closedByPeer(dial(t, ln.Addr().String())) {
		t.Fatal("a connection over the total cap was not closed")
	}
	if got := m.Rejected(Connections); got != 1 {
		t.Fatalf("rejections{connections} = %v, want 1", got)
	}
}

func TestDefaultsValid(t *testing.T) {
	if err := NewDefaults().Validate(); err != nil {
		t.Fatal(err)
	}
	l := NewDefaults()
	l.MaxFactsPerHost = 0
	l.HelloTimeout = 0
	if err := l.Validate(); err == nil {
		t.Fatal("zero limits validated")
	}
}
