package e2e

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// hostileConn is the hostile suite's one way to reach the collector c as
// (or claiming to be) host hostID. Today the collector runs with
// --insecure, so the connection is plaintext and hostID is only what the
// stream's hello will say; with TLS this returns a connection with a
// client certificate enrolled for hostID.
//
// It dials from 127.0.0.2, so that the collector's per-address
// connection cap falls on the attacker and not on the legitimate agent
// and plumbctl, which connect from 127.0.0.1. Each call is a new
// connection. Its flow-control windows are fixed and small (no BDP
// growth), as a client that does not read would leave them: the collector
// meets back-pressure after 64 KiB per stream, not after 16 MiB.
func hostileConn(t *testing.T, c *collector, hostID string) *grpc.ClientConn {
	t.Helper()
	_ = hostID
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	conn, err := grpc.NewClient("passthrough:///"+c.addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20), grpc.MaxCallRecvMsgSize(64<<20)),
		grpc.WithInitialWindowSize(64<<10),
		grpc.WithInitialConnWindowSize(1<<20),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
